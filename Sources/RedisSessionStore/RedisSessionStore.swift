import NIOCore
import RedisClient
import SessionManager

/// The session store on Redis nodes, with the same semantics as on memcached: the same keys,
/// the same envelope, and node ids in session ids so failover, backups and migration work alike.
public enum RedisSessionStore {
    /// The topology for every node of `client`, failover nodes marked as its node list says.
    public static func topology(client: RedisClient) -> SessionStoreTopology {
        SessionStoreTopology(
            nodes: client.nodes.map { node in
                SessionStoreTopology.Node(
                    id: node.node.id,
                    isFailover: node.node.id.map(client.nodeList.isFailoverNode(id:)) ?? false,
                    store: RedisSessionStoreNode(client: node)
                )
            })
    }
}

/// One Redis node seen through ``SessionStoreNode``: `SET ... PX` for writes (TTLs in
/// milliseconds, set atomically with the value), `SET NX PX` for locks (never `SETNX` + `EXPIRE`,
/// which leaks a lock forever if the client dies in between), and a Lua compare-and-delete for
/// an owner's release.
struct RedisSessionStoreNode: SessionStoreNode {
    let client: RedisNodeClient

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
