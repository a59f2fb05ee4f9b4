import Logging
import MemcachedSessionStore
import RedisSessionStore
import ServerTestSupport
import SessionManager
import Synchronization

extension StoreTestCluster {
    /// The session store over every node, through a fresh client of the cluster's backend (tuned
    /// for fault tests), as one app server process would hold it.
    public func makeTopology() throws -> SessionStoreTopology {
        switch backend {
        case .memory: return makeMemoryTopology()
        case .memcached:
            let store = try MemcachedSessionStore(
                nodeList: MemcachedNodeList(parsing: nodeList, failoverNodes: failoverNodes), configuration: memcachedClientConfiguration)
            addTearDown { await store.shutdown() }
            return store.topology
        case .redis:
            let store = try RedisSessionStore(
                nodeList: RedisNodeList(parsing: nodeList, failoverNodes: failoverNodes), configuration: redisClientConfiguration)
            addTearDown { await store.shutdown() }
            return store.topology
        }
    }

    /// One app server: a `SessionManager` with its own client (as a separate process would have),
    /// node availability re-probed quickly so fault tests stay short.
    public func makeServer(
        route: String? = "A",
        sticky: Bool = true,
        events: EventLog? = nil,
        configure: (inout SessionManagerConfiguration) -> Void = { _ in }
    ) throws -> SessionManager {
        var configuration = SessionManagerConfiguration()
        configuration.sticky = sticky
        configuration.route = route
        configuration.nodeAvailabilityTTL = .milliseconds(200)
        if backend == .memory { configuration.clock = memoryClock }
        configure(&configuration)
        var onEvent: (@Sendable (SessionEvent) -> Void)?
        if let events { onEvent = { events.append($0) } }
        return try SessionManager(
            configuration: configuration, store: try makeTopology(), logger: Logger(label: "test-\(route ?? "-")"), onEvent: onEvent)
    }
}

/// Collects session events.
public final class EventLog: Sendable {
    private let events = Mutex<[SessionEvent]>([])
    /// An empty log.
    public init() {}
    /// Records one event.
    public func append(_ event: SessionEvent) { events.withLock { $0.append(event) } }
    /// Everything recorded, in order.
    public var all: [SessionEvent] { events.withLock { $0 } }
}
