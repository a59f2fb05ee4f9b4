import Hummingbird
import HummingbirdTesting
import MemcachedClient
import MemcachedTestSupport
import SessionManager
import Synchronization
import Testing

/// Real memcached nodes for one test, with every client made through it shut down and every
/// process killed when the test ends (also when it throws).
final class MemcachedCluster: Sendable {
    let ids: [String]
    let servers: [String: MemcachedServerProcess]
    private let clients = Mutex<[MemcachedClient]>([])

    private init(ids: [String], servers: [String: MemcachedServerProcess]) {
        self.ids = ids
        self.servers = servers
    }

    /// Starts one memcached per id and runs `body` with them.
    static func with<T>(nodes ids: [String] = ["m1", "m2"], _ body: (MemcachedCluster) async throws -> T) async throws -> T {
        var servers: [String: MemcachedServerProcess] = [:]
        do {
            for id in ids { servers[id] = try await MemcachedServerProcess.start() }
        } catch {
            for server in servers.values { await server.kill() }
            throw error
        }
        let cluster = MemcachedCluster(ids: ids, servers: servers)
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

    /// `m1:127.0.0.1:PORT,m2:127.0.0.1:PORT`.
    var nodeList: String { ids.map { "\($0):\(servers[$0]!.endpoint)" }.joined(separator: ",") }

    /// A client over every node, with short timeouts so that dead-node tests stay quick.
    func makeClient() throws -> MemcachedClient {
        var configuration = MemcachedClientConfiguration()
        configuration.operationTimeout = .milliseconds(500)
        configuration.connectTimeout = .milliseconds(500)
        configuration.maximumReconnectDelay = .milliseconds(100)
        configuration.connectionsPerNode = 1
        let client = try MemcachedClient(nodeList: MemcachedNodeList(parsing: nodeList), configuration: configuration)
        clients.withLock { $0.append(client) }
        return client
    }

    /// One app server's session manager, with its own client (as a separate process would have).
    func makeManager(
        route: String? = "A",
        sticky: Bool = true,
        configure: (inout SessionManagerConfiguration) -> Void = { _ in }
    ) throws -> SessionManager {
        var configuration = SessionManagerConfiguration()
        configuration.route = route
        configuration.sticky = sticky
        configuration.nodeAvailabilityTTL = .milliseconds(200)
        configure(&configuration)
        return try SessionManager(configuration: configuration, store: MemcachedSessionStore.topology(client: makeClient()))
    }

    /// Reads `key` on node `id` with a fresh client, bypassing whatever is under test.
    func rawGet(_ key: String, on id: String) async throws -> MemcachedItem? {
        try await makeClient().node(id: id).get(MemcachedKey(key))
    }

    /// The counters of every command that reads or writes data, per node: a request that does no
    /// session work must leave them all unchanged.
    func dataCommandCounts() async throws -> [String: [String: String]] {
        var counts: [String: [String: String]] = [:]
        for id in ids {
            let stats = try await servers[id]!.stats()
            counts[id] = stats.filter { ["cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "incr_misses", "incr_hits"].contains($0.key) }
        }
        return counts
    }

    func killAll() async {
        for server in servers.values { await server.kill() }
    }
}

extension TestResponse {
    /// Every `Set-Cookie` header of the response.
    var setCookies: [String] { headers[values: .setCookie] }

    /// The body as text.
    var text: String { String(buffer: body) }
}

/// `name=value` of a `Set-Cookie` header, ready for a `Cookie` request header.
func cookiePair(_ setCookie: String) -> String {
    String(setCookie.prefix { $0 != ";" })
}

/// The value of a `Set-Cookie` header (between `=` and the first `;`).
func cookieValue(_ setCookie: String) -> String {
    let pair = cookiePair(setCookie)
    guard let equals = pair.firstIndex(of: "=") else { return "" }
    return String(pair[pair.index(after: equals)...])
}
