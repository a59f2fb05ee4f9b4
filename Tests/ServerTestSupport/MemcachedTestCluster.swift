import MemcachedClient
import NIOCore

/// Real memcached nodes by id for one test, seen through memcached's own types (items with
/// flags and TTLs, ``MemcachedServerProcess``): a ``StoreTestCluster`` running memcached, for
/// tests of memcached-only code such as the Hummingbird persist driver.
public final class MemcachedTestCluster: Sendable {
    /// The backend-neutral cluster underneath (always ``StoreBackend/memcached``).
    public let store: StoreTestCluster

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

    /// A client of node `id`, tuned for fault tests: short timeouts, quick reconnects.
    public func makeClient(_ id: String) throws -> MemcachedClient {
        try store.makeMemcachedClient(id)
    }

    /// Reads `key` on node `id` with a fresh client, bypassing whatever is under test.
    public func rawGet(_ key: String, on id: String) async throws -> MemcachedItem? {
        try await makeClient(id).get(MemcachedKey(key))
    }

    /// Writes `bytes` under `key` on node `id`, bypassing whatever is under test.
    public func rawSet(_ key: String, _ bytes: [UInt8], on id: String) async throws {
        try await store.rawSet(key, bytes, on: id)
    }

    /// The counters of every command that reads or writes data, per node: a request that does no
    /// session work must leave them all unchanged.
    public func dataCommandCounts() async throws -> [String: [String: String]] {
        try await store.dataCommandCounts()
    }
}
