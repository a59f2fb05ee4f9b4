/// Why a store operation failed. The session layer only needs to know whether the node is to
/// blame (mark it down, fail over) or the data (too large for the store).
public struct SessionStoreError: Error, Sendable, CustomStringConvertible {
    /// The broad cause.
    public enum Kind: Sendable, Hashable {
        /// The node did not answer, refused, timed out or is backing off: try another node.
        case nodeUnavailable
        /// The store refused the value as too large.
        case valueTooLarge
        /// Anything else the store reported.
        case other
    }

    /// The broad cause.
    public var kind: Kind
    /// The store's own words, for logs.
    public var message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// One node of a session store: the few operations msm's semantics need, with whole-second
/// expirations: 0 means never, callers never pass a negative one. Implemented for memcached by `MemcachedSessionStore` and for Redis
/// by `RedisSessionStore`; each operation must be atomic on its node.
///
/// Keys arrive already validated (hex session ids plus a checked prefix); values are opaque.
public protocol SessionStoreNode: Sendable {
    /// The value, or `nil` when absent.
    func get(_ key: String) async throws(SessionStoreError) -> [UInt8]?
    /// Stores unconditionally.
    func set(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError)
    /// Stores only if absent; `true` when stored (lock acquisition).
    func add(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) -> Bool
    /// Deletes; `true` when the key existed.
    @discardableResult
    func delete(_ key: String) async throws(SessionStoreError) -> Bool
    /// Deletes only while the key still holds `value`, atomically; `true` when deleted. A lock's
    /// owner releases it this way, so a lock that expired and was taken by another request stays.
    func delete(_ key: String, ifValueIs value: [UInt8]) async throws(SessionStoreError) -> Bool
    /// A cheap round trip proving the node answers (availability probe).
    func ping() async throws(SessionStoreError)
}

/// What a ``SessionManager`` is built on: the store's nodes, and what must be closed once the
/// manager's last write is done.
///
/// The manager owns the store it is given: its `run()` (a swift-service-lifecycle `Service`)
/// waits for graceful shutdown, lets the writes still running after their responses finish
/// (`sessionBackupAsync`), then calls ``shutdown()``. An app adds the manager alone to its
/// services; nothing can be closed in the wrong order.
public protocol SessionStore: Sendable {
    /// The nodes the manager places sessions on.
    var topology: SessionStoreTopology { get }
    /// Closes what the store holds open (protocol clients' connections). Called once, after the
    /// manager's last write.
    func shutdown() async
}

/// The store's nodes by id, in list order, with msm's failover marking. As a ``SessionStore`` it
/// owns nothing: closing the nodes' clients, if any, is the caller's business.
public struct SessionStoreTopology: SessionStore {
    /// One node of the topology.
    public struct Node: Sendable {
        /// The id carried in session ids; `nil` for a single node listed without id.
        public var id: String?
        /// Used only while every regular node is down.
        public var isFailover: Bool
        /// The operations.
        public var store: any SessionStoreNode

        /// Creates a node entry.
        public init(id: String?, isFailover: Bool, store: any SessionStoreNode) {
            self.id = id
            self.isFailover = isFailover
            self.store = store
        }
    }

    /// Nodes in list order.
    public var nodes: [Node]

    /// Creates a topology; ``SessionManager`` validates it.
    public init(nodes: [Node]) {
        self.nodes = nodes
    }

    /// Itself.
    public var topology: SessionStoreTopology { self }

    /// Nothing to close.
    public func shutdown() async {}
}

/// Runs one operation of a store node over a protocol client: once more when it failed only
/// because another request broke the connection they shared (`isReset`), its error translated
/// for the session layer. Both store modules run every operation through it.
package func runStoreOperation<T, Failure: Error>(
    _ operation: () async throws(Failure) -> T,
    retryingWhen isReset: (Failure) -> Bool,
    translate: (Failure) -> SessionStoreError
) async throws(SessionStoreError) -> T {
    do throws(Failure) {
        return try await retryingOnce(when: isReset, operation)
    } catch {
        throw translate(error)
    }
}

/// Runs `operation` once more when its first failure `isRetryable`: the store nodes use it for a
/// request that failed only because another request broke the connection they shared.
package func retryingOnce<T, Failure: Error>(
    when isRetryable: (Failure) -> Bool,
    _ operation: () async throws(Failure) -> T
) async throws(Failure) -> T {
    do {
        return try await operation()
    } catch  where isRetryable(error) {
        return try await operation()
    }
}
