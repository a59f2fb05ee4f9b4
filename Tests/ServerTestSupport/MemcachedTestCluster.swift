import MemcachedClient
import NIOCore

/// Real memcached nodes by id for one test, seen through memcached's own types (items with
/// flags and TTLs, ``MemcachedServerProcess``): a ``StoreTestCluster`` running memcached, for
/// tests of memcached-only code such as the Hummingbird persist driver.
public final class MemcachedTestCluster: Sendable {
    /// The backend-neutral cluster underneath (always ``StoreBackend/memcached``).
    public let store: StoreTestCluster

    /// Node ids in list order; `""` for a single node listed without id.
    public var ids: [String] { store.ids }
    /// The processes by id.
    public var servers: [String: MemcachedServerProcess] {
        Dictionary(uniqueKeysWithValues: store.ids.map { ($0, store.memcachedNode($0)) })
    }
    /// msm's `failoverNodes` for ``nodeList``.
    public var failoverNodes: String { store.failoverNodes }

    private init(store: StoreTestCluster) {
        self.store = store
    }

    /// Starts one memcached per id and runs `body` with them.
    public static func with<T>(
        nodes ids: [String] = ["m1", "m2"],
        failoverNodes: String = "",
        maxItemSize: String? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MemcachedTestCluster) async throws -> T
    ) async throws -> T {
        try await StoreTestCluster.with(
            backend: .memcached, nodes: ids, failoverNodes: failoverNodes, maxItemSize: maxItemSize, isolation: isolation
        ) { store in
            try await body(MemcachedTestCluster(store: store))
        }
    }

    /// `m1:127.0.0.1:PORT,m2:127.0.0.1:PORT`, or `127.0.0.1:PORT` for a single node without id.
    public var nodeList: String { store.nodeList }

    /// The process of node `id`.
    public func node(_ id: String) -> MemcachedServerProcess { store.memcachedNode(id) }

    /// A client over every node, tuned for fault tests: short timeouts, quick reconnects.
    public func makeClient() throws -> MemcachedClient {
        try store.makeMemcachedClient()
    }

    /// Reads `key` on node `id` with a fresh client, bypassing whatever is under test.
    public func rawGet(_ key: String, on id: String) async throws -> MemcachedItem? {
        try await makeClient().node(id: id.isEmpty ? nil : id).get(MemcachedKey(key))
    }

    /// The bytes stored under `key` on node `id`.
    public func rawBytes(_ key: String, on id: String) async throws -> [UInt8]? {
        try await store.rawBytes(key, on: id)
    }

    /// Writes `bytes` under `key` on node `id`, bypassing whatever is under test.
    public func rawSet(_ key: String, _ bytes: [UInt8], on id: String) async throws {
        try await store.rawSet(key, bytes, on: id)
    }

    /// memcached's own `cmd_set` counter on node `id`.
    public func setCount(on id: String) async throws -> Int {
        try await store.setCount(on: id)
    }

    /// The counters of every command that reads or writes data, per node: a request that does no
    /// session work must leave them all unchanged.
    public func dataCommandCounts() async throws -> [String: [String: String]] {
        try await store.dataCommandCounts()
    }

    /// Kills every node (a test of "all nodes down").
    public func killAll() async {
        await store.killAll()
    }
}
