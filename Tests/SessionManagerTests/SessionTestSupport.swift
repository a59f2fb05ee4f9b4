import Logging
import MemcachedClient
import MemcachedTestSupport
import NIOCore
import Synchronization
import Testing

@testable import SessionManager

/// Real memcached nodes plus app servers (SessionManagers, each with its own client, as separate
/// processes would have), for driving requests the way an adapter does.
final class SessionTestCluster: Sendable {
    let memcached: [String: MemcachedServerProcess]
    let nodeList: String
    let failoverNodes: String
    private let clients = Mutex<[MemcachedClient]>([])

    private init(memcached: [String: MemcachedServerProcess], nodeList: String, failoverNodes: String) {
        self.memcached = memcached
        self.nodeList = nodeList
        self.failoverNodes = failoverNodes
    }

    /// Starts one memcached per id; `body` runs with the cluster, which is torn down after.
    static func with<T>(
        nodes ids: [String],
        failoverNodes: String = "",
        maxItemSize: String? = nil,
        _ body: (SessionTestCluster) async throws -> T
    ) async throws -> T {
        var servers: [String: MemcachedServerProcess] = [:]
        do {
            for id in ids { servers[id] = try await MemcachedServerProcess.start(maxItemSize: maxItemSize) }
        } catch {
            for server in servers.values { await server.kill() }
            throw error
        }
        let list = ids.map { ids.count == 1 && $0.isEmpty ? servers[$0]!.endpoint : "\($0):\(servers[$0]!.endpoint)" }.joined(separator: ",")
        let cluster = SessionTestCluster(memcached: servers, nodeList: list, failoverNodes: failoverNodes)
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
        for server in memcached.values { await server.kill() }
    }

    /// A memcached client tuned for fault tests: short timeouts, quick reconnects.
    func makeClient() throws -> MemcachedClient {
        var configuration = MemcachedClientConfiguration()
        configuration.operationTimeout = .milliseconds(500)
        configuration.connectTimeout = .milliseconds(500)
        configuration.maximumReconnectDelay = .milliseconds(100)
        configuration.connectionsPerNode = 1
        let client = try MemcachedClient(nodeList: try MemcachedNodeList(parsing: nodeList, failoverNodes: failoverNodes), configuration: configuration)
        clients.withLock { $0.append(client) }
        return client
    }

    /// One app server.
    func makeServer(
        route: String?,
        sticky: Bool,
        events: EventLog? = nil,
        configure: (inout SessionManagerConfiguration) -> Void = { _ in }
    ) throws -> SessionManager {
        var configuration = SessionManagerConfiguration()
        configuration.sticky = sticky
        configuration.route = route
        configuration.nodeAvailabilityTTL = .milliseconds(200)
        configure(&configuration)
        let topology = MemcachedSessionStore.topology(client: try makeClient())
        var onEvent: (@Sendable (SessionEvent) -> Void)?
        if let events { onEvent = { events.append($0) } }
        return try SessionManager(configuration: configuration, store: topology, logger: Logger(label: "test-\(route ?? "-")"), onEvent: onEvent)
    }

    func node(_ id: String) -> MemcachedServerProcess { memcached[id]! }

    /// The raw bytes a node holds under `key`, read with a fresh client (bypassing the managers).
    func rawGet(_ key: String, on id: String) async throws -> [UInt8]? {
        let client = try makeClient()
        let item = try await client.node(id: id.isEmpty ? nil : id).get(MemcachedKey(key))
        return item.map { Array($0.value.readableBytesView) }
    }

    func rawSet(_ key: String, _ bytes: [UInt8], on id: String) async throws {
        let client = try makeClient()
        try await client.node(id: id.isEmpty ? nil : id).set(MemcachedKey(key), value: ByteBuffer(bytes: bytes))
    }

    func setCount(on id: String) async throws -> Int {
        Int(try await node(id).stats()["cmd_set"] ?? "") ?? -1
    }
}

/// Collects session events.
final class EventLog: Sendable {
    private let events = Mutex<[SessionEvent]>([])
    func append(_ event: SessionEvent) { events.withLock { $0.append(event) } }
    var all: [SessionEvent] { events.withLock { $0 } }
}

/// A browser: keeps the cookie the server last set.
struct Browser {
    var cookie: String?

    /// One request through `server`, the way an adapter drives it; `body` is the handler.
    @discardableResult
    mutating func request(
        _ server: SessionManager,
        method: String = "GET",
        path: String = "/myapp/",
        touchSession: Bool = true,
        _ body: (Session) throws -> Void = { _ in }
    ) async throws -> (session: Session?, action: SessionCookieAction) {
        guard let request = server.beginRequest(cookie: cookie, method: method, path: path) else { return (nil, .none) }
        var session: Session?
        if touchSession {
            session = try await request.session()
            if let session { try body(session) }
        }
        let action = try await request.finish()
        switch action {
        case .none: break
        case .set(let id): cookie = id.description
        case .expire: cookie = nil
        }
        return (session, action)
    }

    /// `GET /myapp/`: increments `visits`, returns the new count.
    mutating func visit(_ server: SessionManager) async throws -> (visits: Int, action: SessionCookieAction, id: SessionID) {
        var visits = 0
        let (session, action) = try await request(server) { session in
            visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
            try session.setAttribute("visits", visits)
        }
        return (visits, action, try #require(session).id)
    }

    var id: SessionID? { cookie.flatMap(SessionID.init(parsing:)) }
}

/// Retries until `body` returns true, for at most `limit`: recovery is asynchronous.
func eventually(within limit: Duration = .seconds(10), _ body: () async throws -> Bool) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if try await body() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}
