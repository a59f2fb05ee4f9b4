import Logging
import NIOCore
import NIOPosix
import RedisClient
import SessionManager

/// msm's node list with Redis URLs: one `redis://[user:password@]host[:port][/db]` (`rediss://` for
/// TLS), or several with ids, `r1:redis://10.0.0.1,r2:redis://10.0.0.2:6380/1`.
public typealias RedisNodeList = SessionNodeList<RedisServer>

extension RedisServer: SessionNodeAddress {
    public static var serverName: String { "Redis" }
    public static var entrySyntax: String { "id:redis://host:port" }
    public static var exampleEntry: String { "r1:redis://127.0.0.1:6379" }
    public static var duplicateReason: String {
        "this host, port and database are already in the list; name every Redis database once"
    }
    public static var addressesAreURLs: Bool { true }

    public init(nodeListAddress address: String) throws(SessionNodeListError.Reason) {
        do {
            try self.init(url: address)
        } catch {
            throw SessionNodeListError.Reason(error.message)
        }
    }

    public var serverIdentity: String { "\(host.lowercased()):\(port)/\(database)" }

    public func validateAddress() throws(SessionNodeListError.Reason) {
        do {
            try validate()
        } catch {
            throw SessionNodeListError.Reason(error.message)
        }
    }

}

/// Sessions in Redis, with the same semantics as on memcached (the same keys, the same envelope,
/// node ids in session ids so failover, backups and migration work alike): one `RedisClient`
/// per node of the node list, seen by the `SessionManager` through `topology`.
///
/// Give it to the `SessionManager`, which owns it from then on: add only the manager to your
/// app's services, and on shutdown it closes the store's connections after its last write.
///
/// ```swift
/// let store = try RedisSessionStore(nodes: "r1:redis://10.0.0.1,r2:redis://:secret@10.0.0.2:6380/1", failoverNodes: "r1")
/// let manager = try SessionManager(configuration: SessionManagerConfiguration(), store: store)
/// app.addServices(manager)
/// ```
public typealias RedisSessionStore = ClientSessionStore<RedisServer, RedisClient>

extension RedisClient: SessionStoreClient {}

extension ClientSessionStore where Address == RedisServer, Client == RedisClient {
    /// A store over `nodeList`; no connection is opened before the first request.
    /// - Throws: `RedisError` when `configuration` is inconsistent or its TLS settings cannot be loaded.
    public convenience init(
        nodeList: RedisNodeList,
        configuration: RedisClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) throws(RedisError) {
        try self.init(
            nodeList: nodeList,
            client: { server throws(RedisError) in
                try RedisClient(server: server, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            },
            node: RedisSessionStoreNode.init
        )
    }

    /// A store over msm's `memcachedNodes` (Redis URLs) and `failoverNodes` settings.
    /// - Throws: `SessionConfigurationError` naming the setting and the offending entry.
    public convenience init(
        nodes: String,
        failoverNodes: String = "",
        configuration: RedisClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) throws(SessionConfigurationError) {
        try self.init(
            nodes: nodes, failoverNodes: failoverNodes, clientSetting: "configuration",
            client: { server throws(RedisError) in
                try RedisClient(server: server, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            },
            node: RedisSessionStoreNode.init
        )
    }
}

/// One Redis node seen through ``SessionStoreNode``: `SET ... PX` for writes (TTLs in
/// milliseconds, set atomically with the value), `SET NX PX` for locks (never `SETNX` + `EXPIRE`,
/// which leaks a lock forever if the client dies in between), and a Lua compare-and-delete for
/// an owner's release.
struct RedisSessionStoreNode: SessionStoreNode {
    let client: RedisClient

    func get(_ key: String) async throws(SessionStoreError) -> [UInt8]? {
        try await run { () throws(RedisError) in try await client.get(key).map { Array($0.readableBytesView) } }
    }

    func set(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) {
        _ = try await run { () throws(RedisError) in
            try await client.set(key, value: ByteBuffer(bytes: value), expiration: Self.expiration(expirationSeconds))
        }
    }

    func add(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) -> Bool {
        try await run { () throws(RedisError) in
            try await client.set(key, value: ByteBuffer(bytes: value), expiration: Self.expiration(expirationSeconds), condition: .ifNotExists)
        }
    }

    func delete(_ key: String) async throws(SessionStoreError) -> Bool {
        try await run { () throws(RedisError) in try await client.delete(key) }
    }

    func delete(_ key: String, ifValueIs value: [UInt8]) async throws(SessionStoreError) -> Bool {
        try await run { () throws(RedisError) in try await client.delete(key, ifValueIs: ByteBuffer(bytes: value)) }
    }

    func ping() async throws(SessionStoreError) {
        try await run { () throws(RedisError) in try await client.ping() }
    }

    /// 0 means "never expires", as in memcached; Redis spells that as no `PX` at all.
    private static func expiration(_ seconds: Int) -> Duration? {
        seconds <= 0 ? nil : .seconds(seconds)
    }

    private func run<T>(_ operation: () async throws(RedisError) -> T) async throws(SessionStoreError) -> T {
        try await runStoreOperation(operation, retryingWhen: { $0.code == .connectionReset }, translate: Self.translate)
    }

    /// Node trouble means "fail over"; a refused value means "too large"; the rest is logged.
    private static func translate(_ error: RedisError) -> SessionStoreError {
        switch error.code {
        case .invalidArgument:
            return SessionStoreError(.valueTooLarge, error.description)
        case .outOfMemory, .wrongType, .serverError:
            return SessionStoreError(.other, error.description)
        default:
            return SessionStoreError(.nodeUnavailable, error.description)
        }
    }
}
