import MemcachedClient
import NIOCore
import Synchronization

/// Real memcached nodes by id for one test: every client made through it is shut down and every
/// process killed when the test ends, also when it throws.
public final class MemcachedTestCluster: Sendable {
    /// Node ids in list order; `""` for a single node listed without id.
    public let ids: [String]
    /// The processes by id.
    public let servers: [String: MemcachedServerProcess]
    /// msm's `failoverNodes` for ``nodeList``.
    public let failoverNodes: String
    private let clients = Mutex<[MemcachedClient]>([])

    private init(ids: [String], servers: [String: MemcachedServerProcess], failoverNodes: String) {
        self.ids = ids
        self.servers = servers
        self.failoverNodes = failoverNodes
    }

    /// Starts one memcached per id and runs `body` with them.
    public static func with<T>(
        nodes ids: [String] = ["m1", "m2"],
        failoverNodes: String = "",
        maxItemSize: String? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MemcachedTestCluster) async throws -> T
    ) async throws -> T {
        var servers: [String: MemcachedServerProcess] = [:]
        do {
            for id in ids { servers[id] = try await MemcachedServerProcess.start(maxItemSize: maxItemSize) }
        } catch {
            for server in servers.values { await server.kill() }
            throw error
        }
        let cluster = MemcachedTestCluster(ids: ids, servers: servers, failoverNodes: failoverNodes)
        do {
            let result = try await body(cluster)
            await cluster.tearDown()
            return result
        } catch {
            await cluster.tearDown()
            throw error
        }
    }

    private func tearDown() async {
        for client in clients.withLock({ $0 }) { await client.shutdown() }
        await killAll()
    }

    /// `m1:127.0.0.1:PORT,m2:127.0.0.1:PORT`, or `127.0.0.1:PORT` for a single node without id.
    public var nodeList: String {
        ids.map { $0.isEmpty ? servers[$0]!.endpoint : "\($0):\(servers[$0]!.endpoint)" }.joined(separator: ",")
    }

    /// The process of node `id`.
    public func node(_ id: String) -> MemcachedServerProcess { servers[id]! }

    /// A client over every node, tuned for fault tests: short timeouts, quick reconnects.
    public func makeClient() throws -> MemcachedClient {
        var configuration = MemcachedClientConfiguration()
        configuration.operationTimeout = .milliseconds(500)
        configuration.connectTimeout = .milliseconds(500)
        configuration.maximumReconnectDelay = .milliseconds(100)
        configuration.connectionsPerNode = 1
        let client = try MemcachedClient(nodeList: try MemcachedNodeList(parsing: nodeList, failoverNodes: failoverNodes), configuration: configuration)
        clients.withLock { $0.append(client) }
        return client
    }

    /// Reads `key` on node `id` with a fresh client, bypassing whatever is under test.
    public func rawGet(_ key: String, on id: String) async throws -> MemcachedItem? {
        try await makeClient().node(id: id.isEmpty ? nil : id).get(MemcachedKey(key))
    }

    /// The bytes stored under `key` on node `id`.
    public func rawBytes(_ key: String, on id: String) async throws -> [UInt8]? {
        try await rawGet(key, on: id).map { Array($0.value.readableBytesView) }
    }

    /// Writes `bytes` under `key` on node `id`, bypassing whatever is under test.
    public func rawSet(_ key: String, _ bytes: [UInt8], on id: String) async throws {
        try await makeClient().node(id: id.isEmpty ? nil : id).set(MemcachedKey(key), value: ByteBuffer(bytes: bytes))
    }

    /// memcached's own `cmd_set` counter on node `id`.
    public func setCount(on id: String) async throws -> Int {
        Int(try await node(id).stats()["cmd_set"] ?? "") ?? -1
    }

    /// The counters of every command that reads or writes data, per node: a request that does no
    /// session work must leave them all unchanged.
    public func dataCommandCounts() async throws -> [String: [String: String]] {
        var counts: [String: [String: String]] = [:]
        for id in ids {
            let stats = try await servers[id]!.stats()
            counts[id] = stats.filter { ["cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "incr_misses", "incr_hits"].contains($0.key) }
        }
        return counts
    }

    /// Kills every node (a test of "all nodes down").
    public func killAll() async {
        for server in servers.values { await server.kill() }
    }
}
