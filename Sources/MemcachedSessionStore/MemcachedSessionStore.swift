import MemcachedClient
import NIOCore
import SessionManager

/// The session store on memcached nodes: msm's original and default backend.
public enum MemcachedSessionStore {
    /// The topology for every node of `client`, failover nodes marked as its node list says.
    public static func topology(client: MemcachedClient) -> SessionStoreTopology {
        SessionStoreTopology(
            nodes: client.nodes.map { node in
                SessionStoreTopology.Node(
                    id: node.node.id,
                    isFailover: node.node.id.map(client.nodeList.isFailoverNode(id:)) ?? false,
                    store: MemcachedSessionStoreNode(client: node)
                )
            })
    }
}

/// One memcached node seen through ``SessionStoreNode``.
struct MemcachedSessionStoreNode: SessionStoreNode {
    let client: MemcachedNodeClient

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
