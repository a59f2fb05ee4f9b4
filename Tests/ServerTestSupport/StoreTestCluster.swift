import Foundation
import MemcachedClient
import NIOCore
import RedisClient
import SessionManager
import SessionManagerTesting
import Synchronization

/// The stores the session tests run against: every session scenario must hold on each, so
/// suites take it as a test argument (`@Test(arguments: StoreBackend.underTest)`).
public enum StoreBackend: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The in-process `MemorySessionStore`, with faults injected where a test kills, freezes or
    /// restarts a server: the semantics without a socket, in milliseconds.
    case memory
    /// memcached, msm's original store.
    case memcached
    /// Redis.
    case redis

    /// The raw value, so test names read `memcached` / `redis`.
    public var description: String { rawValue }

    /// The backends session suites run on: all, or those named in `MSM_TEST_BACKENDS`
    /// (e.g. `memory` for the semantics alone, without starting a server).
    public static var underTest: [StoreBackend] {
        guard let names = ProcessInfo.processInfo.environment["MSM_TEST_BACKENDS"], !names.isEmpty else { return allCases }
        // A typo must not leave every session suite with no case to run (and "pass").
        return names.split(separator: ",").map { name in
            guard let backend = StoreBackend(rawValue: String(name)) else {
                preconditionFailure("MSM_TEST_BACKENDS: unknown backend \"\(name)\"; use \(allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return backend
        }
    }
}

/// What a fault test does to a store node, whichever server runs it: the same scenario kills,
/// restarts or freezes a memcached and a redis-server alike.
public protocol StoreServerProcess: AnyObject, Sendable {
    /// `"127.0.0.1:PORT"`; it stays the same across ``restart()``.
    var endpoint: String { get }
    /// Whether the process is alive (it may still be SIGSTOPped).
    var isRunning: Bool { get }
    /// SIGKILL, then wait until the process is reaped so the port is free. Idempotent.
    func kill() async
    /// SIGSTOP: the process keeps its sockets but stops answering.
    func suspend()
    /// SIGCONT after ``suspend()``.
    func resume()
    /// Kills the process if it runs and starts it again, empty, on the same port.
    func restart() async throws
    /// What the server logged since it was last launched, for failure messages.
    func log() -> String
}

extension MemcachedServerProcess: StoreServerProcess {}
extension RedisServerProcess: StoreServerProcess {}

/// A memory node doing what a test does to a server process: killed means down, suspended means
/// hung until resumed (or its operation timeout), restarted means up and empty.
public final class MemoryStoreNode: StoreServerProcess {
    /// The node's data.
    public let memory: MemorySessionStore
    /// The node as session managers reach it.
    public let store: FaultInjectingSessionStore
    public let endpoint: String

    init(id: String, maximumValueSize: Int, clock: ManualSessionClock) {
        memory = MemorySessionStore(maximumValueSize: maximumValueSize, clock: clock)
        store = FaultInjectingSessionStore(memory, timeout: .milliseconds(500))
        endpoint = "memory:\(id)"
    }

    public var isRunning: Bool { store.fault != .down }
    public func kill() async { store.fault = .down }
    public func suspend() { store.fault = .hung }
    public func resume() { if store.fault == .hung { store.fault = nil } }
    public func restart() async throws {
        memory.removeAll()
        store.fault = nil
    }
    public func log() -> String { "" }
}

/// Real store nodes by id for one test, memcached or redis-server: every client made through it
/// is shut down and every process killed when the test ends, also when it throws.
///
/// It speaks each store's own protocol (raw reads and writes, write counters), so a test can
/// check what a session manager stored without trusting it; the session manager itself is built
/// by `makeServer` in SessionManagerTestSupport.
public final class StoreTestCluster: Sendable {
    /// The kind of server every node runs.
    public let backend: StoreBackend
    /// Node ids in list order; `""` for a single node listed without id.
    public let ids: [String]
    /// msm's `failoverNodes` for ``nodeList``.
    public let failoverNodes: String
    private let servers: [String: Server]
    /// The wall clock of a ``StoreBackend/memory`` cluster (and of its app servers): it moves
    /// only in ``elapse(_:)``.
    public let memoryClock: ManualSessionClock
    private let tearDowns = Mutex<[@Sendable () async -> Void]>([])

    /// One node's process, typed so each backend's own counters stay reachable.
    private enum Server: Sendable {
        case memory(MemoryStoreNode)
        case memcached(MemcachedServerProcess)
        case redis(RedisServerProcess)

        var process: any StoreServerProcess {
            switch self {
            case .memory(let node): return node
            case .memcached(let server): return server
            case .redis(let server): return server
            }
        }
    }

    private init(backend: StoreBackend, ids: [String], servers: [String: Server], failoverNodes: String, memoryClock: ManualSessionClock) {
        self.memoryClock = memoryClock
        self.backend = backend
        self.ids = ids
        self.servers = servers
        self.failoverNodes = failoverNodes
    }

    /// Starts one `backend` server per id and runs `body` with them.
    ///
    /// - Parameter maxItemSize: memcached's `-I` (e.g. `"1m"`). Redis has no item size limit
    ///   (values up to 512 MB); there it becomes `proto-max-bulk-len` (at least 1 MB), which makes
    ///   Redis refuse a larger value and close the connection it came on.
    public static func with<T>(
        backend: StoreBackend,
        nodes ids: [String] = ["m1", "m2"],
        failoverNodes: String = "",
        maxItemSize: String? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (StoreTestCluster) async throws -> T
    ) async throws -> T {
        var servers: [String: Server] = [:]
        let memoryClock = ManualSessionClock()
        do {
            for id in ids {
                switch backend {
                case .memory:
                    servers[id] = .memory(MemoryStoreNode(id: id, maximumValueSize: maxItemSize.map(byteCount) ?? 1 << 20, clock: memoryClock))
                case .memcached:
                    servers[id] = .memcached(try await MemcachedServerProcess.start(maxItemSize: maxItemSize))
                case .redis:
                    let limit = maxItemSize.map { ["--proto-max-bulk-len", redisMemorySize($0)] } ?? []
                    servers[id] = .redis(try await RedisServerProcess.start(extraArguments: limit))
                }
            }
        } catch {
            for server in servers.values { await server.process.kill() }
            throw error
        }
        let cluster = StoreTestCluster(backend: backend, ids: ids, servers: servers, failoverNodes: failoverNodes, memoryClock: memoryClock)
        do {
            let result = try await body(cluster)
            await cluster.tearDown()
            return result
        } catch {
            await cluster.tearDown()
            throw error
        }
    }

    /// memcached's `1m`/`512k` (binary units) in bytes.
    private static func byteCount(_ size: String) -> Int {
        let units: [Character: Int] = ["k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        guard let last = size.last?.lowercased().first, let unit = units[last] else { return Int(size) ?? 1 << 20 }
        return (Int(size.dropLast()) ?? 1) * unit
    }

    /// memcached's `1m`/`512k` (binary units) as Redis spells them (`1mb`/`512kb`; Redis' `1m`
    /// means 10^6 bytes).
    private static func redisMemorySize(_ size: String) -> String {
        guard let unit = size.last?.lowercased(), unit == "k" || unit == "m" || unit == "g" else { return size }
        return size + "b"
    }

    private func tearDown() async {
        for action in tearDowns.withLock({ $0 }) { await action() }
        await killAll()
    }

    /// Runs `action` when the test ends (before the servers die): shuts down a store or client
    /// the test made.
    public func addTearDown(_ action: @escaping @Sendable () async -> Void) {
        tearDowns.withLock { $0.append(action) }
    }

    // MARK: Nodes

    /// The node list a client of ``backend`` parses: `m1:127.0.0.1:PORT,...` for memcached,
    /// `m1:redis://127.0.0.1:PORT,...` for Redis; without `id:` for a single node without id.
    public var nodeList: String {
        ids.map { id in
            let endpoint = servers[id]!.process.endpoint
            let address = backend == .redis ? "redis://\(endpoint)" : endpoint
            return id.isEmpty ? address : "\(id):\(address)"
        }.joined(separator: ",")
    }

    /// The process of node `id`, to kill, restart, suspend or resume it.
    public func node(_ id: String) -> any StoreServerProcess { servers[id]!.process }

    /// The session store over every memory node, failover nodes marked; the cluster must run
    /// ``StoreBackend/memory``. Every app server of a test shares these nodes, as real ones would.
    public func makeMemoryTopology() -> SessionStoreTopology {
        let failover = Set(SessionNodeListSyntax.tokens(in: failoverNodes))
        return SessionStoreTopology(
            nodes: ids.map { id in
                guard case .memory(let node) = servers[id]! else { preconditionFailure("a memory topology for a \(backend) cluster") }
                return .init(id: id.isEmpty ? nil : id, isFailover: failover.contains(id), store: node.store)
            })
    }

    /// Lets `duration` of wall-clock time pass for sessions and store copies: the memory
    /// cluster's clock jumps at once, real servers are waited for.
    public func elapse(_ duration: Duration) async throws {
        if backend == .memory {
            memoryClock.advance(by: duration)
        } else {
            try await Task.sleep(for: duration)
        }
    }

    /// Kills every node (a test of "all nodes down").
    public func killAll() async {
        for server in servers.values { await server.process.kill() }
    }

    // MARK: Clients

    /// Client settings for fault tests: timeouts short enough for tests of hung nodes, long
    /// enough that a loaded 2-core machine running the whole suite does not time out a healthy
    /// node; quick reconnects; one connection.
    public var memcachedClientConfiguration: MemcachedClientConfiguration {
        var configuration = MemcachedClientConfiguration()
        configuration.operationTimeout = .seconds(1)
        configuration.connectTimeout = .seconds(1)
        configuration.maximumReconnectDelay = .milliseconds(100)
        configuration.connectionsPerNode = 1
        return configuration
    }

    /// The same settings for Redis clients.
    public var redisClientConfiguration: RedisClientConfiguration {
        var configuration = RedisClientConfiguration()
        configuration.operationTimeout = .seconds(1)
        configuration.connectTimeout = .seconds(1)
        configuration.maximumReconnectDelay = .milliseconds(100)
        configuration.connectionsPerNode = 1
        return configuration
    }

    /// A client of node `id`'s memcached, tuned for fault tests, shut down when the test ends.
    public func makeMemcachedClient(_ id: String) throws -> MemcachedClient {
        guard case .memcached(let server) = servers[id] else { preconditionFailure("no memcached node \(id) in a \(backend) cluster") }
        let client = try MemcachedClient(server: MemcachedServer(parsing: server.endpoint), configuration: memcachedClientConfiguration)
        addTearDown { await client.shutdown() }
        return client
    }

    /// A client of node `id`'s redis-server, tuned like ``makeMemcachedClient(_:)``.
    public func makeRedisClient(_ id: String) throws -> RedisClient {
        guard case .redis(let server) = servers[id] else { preconditionFailure("no Redis node \(id) in a \(backend) cluster") }
        let client = try RedisClient(server: RedisServer(url: "redis://\(server.endpoint)"), configuration: redisClientConfiguration)
        addTearDown { await client.shutdown() }
        return client
    }

    // MARK: Raw data

    /// The bytes stored under `key` on node `id`, read with a fresh client, bypassing whatever is
    /// under test; `nil` when absent.
    public func rawGet(_ key: String, on id: String) async throws -> [UInt8]? {
        switch servers[id]! {
        case .memory(let node):
            return try await node.memory.get(key)
        case .memcached:
            return try await makeMemcachedClient(id).get(MemcachedKey(key)).map { Array($0.value.readableBytesView) }
        case .redis:
            return try await makeRedisClient(id).get(key).map { Array($0.readableBytesView) }
        }
    }

    /// Writes `bytes` under `key` on node `id`, without expiry, bypassing whatever is under test.
    public func rawSet(_ key: String, _ bytes: [UInt8], on id: String) async throws {
        switch servers[id]! {
        case .memory(let node):
            try await node.memory.set(key, value: bytes, expirationSeconds: 0)
        case .memcached:
            try await makeMemcachedClient(id).set(MemcachedKey(key), value: ByteBuffer(bytes: bytes))
        case .redis:
            try await makeRedisClient(id).set(key, value: ByteBuffer(bytes: bytes))
        }
    }

    // MARK: Counters

    /// How many writes node `id` has executed, as the server counts them: memcached's `cmd_set`
    /// (every storage command: `set`, and `add` for locks), Redis' `SET` calls (plain, and `NX`
    /// for locks). Deletes and reads are not counted on either.
    public func setCount(on id: String) async throws -> Int {
        switch servers[id]! {
        case .memory(let node):
            return node.store.counts.sets + node.store.counts.adds
        case .memcached(let server):
            return Int(try await server.stats()["cmd_set"] ?? "") ?? -1
        case .redis(let server):
            return try await Self.redisCommandCalls(server)["set"] ?? 0
        }
    }

    /// Redis commands that read or write data: any of them running shows session work.
    private static let redisDataCommands: Set<String> = [
        "get", "getex", "getdel", "mget", "set", "setnx", "setex", "psetex", "mset", "del", "unlink",
        "expire", "pexpire", "persist", "exists", "ttl", "pttl", "eval", "evalsha", "eval_ro", "evalsha_ro",
    ]

    /// The counters of every command that reads or writes data, per node: a request that does no
    /// session work must leave them all unchanged. memcached: `cmd_get`, `cmd_set`... from
    /// `stats`; Redis: the `calls` of each data command in `INFO commandstats`, by command name.
    public func dataCommandCounts() async throws -> [String: [String: String]] {
        var counts: [String: [String: String]] = [:]
        for id in ids {
            switch servers[id]! {
            case .memory(let node):
                let operations = node.store.counts
                counts[id] = [
                    "gets": "\(operations.gets)", "sets": "\(operations.sets)", "adds": "\(operations.adds)",
                    "deletes": "\(operations.deletes)",
                ]
            case .memcached(let server):
                let stats = try await server.stats()
                counts[id] = stats.filter {
                    ["cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "incr_misses", "incr_hits"].contains($0.key)
                }
            case .redis(let server):
                counts[id] = try await Self.redisCommandCalls(server)
                    .filter { Self.redisDataCommands.contains($0.key) }
                    .mapValues(String.init)
            }
        }
        return counts
    }

    /// `INFO commandstats` as calls per lower-case command name (`cmdstat_set:calls=3,...` →
    /// `["set": 3]`); a command never run is absent.
    private static func redisCommandCalls(_ server: RedisServerProcess) async throws -> [String: Int] {
        var calls: [String: Int] = [:]
        for (name, fields) in try await server.info("commandstats") where name.hasPrefix("cmdstat_") {
            let callsField = fields.split(separator: ",").first { $0.hasPrefix("calls=") }
            guard let value = callsField.flatMap({ Int($0.dropFirst("calls=".count)) }) else {
                throw TestServerError("unreadable INFO commandstats line \(name):\(fields)")
            }
            calls[String(name.dropFirst("cmdstat_".count)).lowercased()] = value
        }
        return calls
    }
}
