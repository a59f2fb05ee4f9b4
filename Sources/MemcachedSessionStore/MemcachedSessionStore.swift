import Logging
import MemcachedClient
import NIOCore
import NIOPosix
import SessionManager

/// msm's memcached node list: `m1:10.0.0.1:11211,m2:10.0.0.2:11211` (a single node may omit its
/// id: `127.0.0.1:11211`; IPv6 hosts in brackets: `m1:[::1]:11211`).
public typealias MemcachedNodeList = SessionNodeList<MemcachedServer>

extension MemcachedServer: SessionNodeAddress {
    public static var serverName: String { "memcached" }
    public static var entrySyntax: String { "id:host:port" }
    public static var exampleEntry: String { "m1:127.0.0.1:11211" }
    public static var duplicateReason: String { "this host and port are already in the list; name every memcached server once" }
    public static var addressesAreURLs: Bool { false }

    public init(nodeListAddress address: String) throws(SessionNodeListError.Reason) {
        try Self.rejectURL(address)
        do {
            try self.init(parsing: address)
        } catch {
            throw SessionNodeListError.Reason(error.message)
        }
    }

    public var serverIdentity: String { "\(host.lowercased()):\(port)" }

    public func validateAddress() throws(SessionNodeListError.Reason) {
        do {
            try validate()
        } catch {
            throw SessionNodeListError.Reason(error.message)
        }
    }

    /// URLs are not memcached nodes: say what they select instead of "bad port".
    private static func rejectURL(_ address: String) throws(SessionNodeListError.Reason) {
        guard let separator = address.firstRange(of: "://") else { return }
        let scheme = address[..<separator.lowerBound].lowercased()
        guard scheme == "redis" || scheme == "rediss" else {
            throw SessionNodeListError.Reason(
                "'\(scheme)://' URLs are not accepted here: this list names memcached nodes only; write id:host:port, e.g. m1:127.0.0.1:11211"
            )
        }
        throw SessionNodeListError.Reason(
            "'\(scheme)://' URLs name Redis nodes, and this list names memcached nodes only (a list of only redis:// URLs "
                + "selects Redis; mixed memcached and Redis nodes in one list are not supported)"
        )
    }
}

/// Sessions in memcached, msm's original store: one `MemcachedClient` per node of the node
/// list, seen by the `SessionManager` through `topology`.
///
/// Give it to the `SessionManager`, which owns it from then on: add only the manager to your
/// app's services, and on shutdown it closes the store's connections after its last write.
///
/// ```swift
/// let store = try MemcachedSessionStore(nodes: "m1:10.0.0.1:11211,m2:10.0.0.2:11211", failoverNodes: "m1")
/// let manager = try SessionManager(configuration: SessionManagerConfiguration(), store: store)
/// app.addServices(manager)
/// ```
public typealias MemcachedSessionStore = ClientSessionStore<MemcachedServer, MemcachedClient>

extension MemcachedClient: SessionStoreClient {}

extension ClientSessionStore where Address == MemcachedServer, Client == MemcachedClient {
    /// A store over `nodeList`; no connection is opened before the first request.
    /// - Throws: `MemcachedError` when `configuration` is inconsistent.
    public convenience init(
        nodeList: MemcachedNodeList,
        configuration: MemcachedClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "memcached")
    ) throws(MemcachedError) {
        try self.init(
            nodeList: nodeList,
            client: { server throws(MemcachedError) in
                try MemcachedClient(server: server, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            },
            node: MemcachedSessionStoreNode.init
        )
    }

    /// A store over msm's `memcachedNodes` and `failoverNodes` settings.
    /// - Throws: `SessionConfigurationError` naming the setting and the offending entry.
    public convenience init(
        nodes: String,
        failoverNodes: String = "",
        configuration: MemcachedClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "memcached")
    ) throws(SessionConfigurationError) {
        try self.init(
            nodes: nodes, failoverNodes: failoverNodes, clientSetting: "configuration",
            client: { server throws(MemcachedError) in
                try MemcachedClient(server: server, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
            },
            node: MemcachedSessionStoreNode.init
        )
    }
}

/// One memcached node seen through ``SessionStoreNode``.
struct MemcachedSessionStoreNode: SessionStoreNode {
    let client: MemcachedClient

    func get(_ key: String) async throws(SessionStoreError) -> [UInt8]? {
        try await run { () throws(MemcachedError) in
            try await client.get(MemcachedKey(key)).map { Array($0.value.readableBytesView) }
        }
    }

    func set(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) {
        try await run { () throws(MemcachedError) in
            try await client.set(MemcachedKey(key), value: ByteBuffer(bytes: value), expiration: Self.expiration(expirationSeconds))
        }
    }

    func add(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) -> Bool {
        try await run { () throws(MemcachedError) in
            try await client.add(MemcachedKey(key), value: ByteBuffer(bytes: value), expiration: Self.expiration(expirationSeconds))
        }
    }

    func delete(_ key: String) async throws(SessionStoreError) -> Bool {
        try await run { () throws(MemcachedError) in try await client.delete(MemcachedKey(key)) == .deleted }
    }

    /// Read, compare, then delete with the CAS token of the read: memcached refuses the delete
    /// if anyone wrote the key in between.
    func delete(_ key: String, ifValueIs value: [UInt8]) async throws(SessionStoreError) -> Bool {
        try await run { () throws(MemcachedError) in
            let memcachedKey = try MemcachedKey(key)
            guard let current = try await client.get(memcachedKey), current.value.readableBytesView.elementsEqual(value) else {
                return false
            }
            return try await client.delete(memcachedKey, cas: current.cas) == .deleted
        }
    }

    func ping() async throws(SessionStoreError) {
        try await run { () throws(MemcachedError) in try await client.noop() }
    }

    private static func expiration(_ seconds: Int) -> MemcachedExpiration {
        seconds == 0 ? .never : .seconds(seconds)
    }

    private func run<T>(_ operation: () async throws(MemcachedError) -> T) async throws(SessionStoreError) -> T {
        try await runStoreOperation(operation, retryingWhen: { $0.code == .connectionReset }, translate: Self.translate)
    }

    /// Node trouble means "fail over"; a refused value means "too large"; the rest is logged.
    private static func translate(_ error: MemcachedError) -> SessionStoreError {
        switch error.code {
        case .itemTooLarge, .invalidValue:
            return SessionStoreError(.valueTooLarge, error.description)
        case .invalidKey, .outOfMemory:
            return SessionStoreError(.other, error.description)
        default:
            return SessionStoreError(.nodeUnavailable, error.description)
        }
    }
}
