import Logging
import ServiceLifecycle
import Synchronization

/// msm's session manager, free of any web framework: where sessions live, when they are loaded
/// and stored, how they survive a dead store node or app server.
///
/// Adapters call ``beginRequest(cookie:method:path:logger:)`` when a request arrives, hand the returned
/// ``SessionRequest`` to the handler, and call ``SessionRequest/finish()`` before the response
/// leaves; it stores what changed and says which `Set-Cookie` to send.
///
/// It owns its store: add the manager (and only it) to the app's services. Its `run()` waits for
/// graceful shutdown, lets the writes still running after their responses finish
/// (`sessionBackupAsync`), then closes the store's connections. Not run, those writes are lost
/// at shutdown and the connections are never closed; the first request says so in the log.
public final class SessionManager: Service, Sendable {
    /// The configuration in force.
    public let configuration: SessionManagerConfiguration

    let nodes: SessionNodes
    let local: LocalSessions
    let locking: SessionLocking
    let turns = SessionTurns()
    let readOnlyRequests = ReadOnlyRequests()
    let pendingWrites = PendingWrites()
    let metrics = SessionMetrics()
    let logger: Logger
    let store: any SessionStore
    /// Whether `run()` has started; a store with connections is then closed on shutdown.
    let lifecycle = Atomic<Lifecycle>(.created)
    let patterns: SessionPatterns
    let onEvent: (@Sendable (SessionEvent) -> Void)?
    /// An unchanged session's store copy is rewritten (to keep its expiry) at most this often.
    let refreshIntervalMilliseconds: Int64
    private let cookies: SessionCookieFormatter

    /// Creates a manager over `store`, which it owns from now on (see ``run()``).
    /// - Parameters:
    ///   - configuration: the settings; checked here.
    ///   - store: `MemcachedSessionStore`, `RedisSessionStore`, or a ``SessionStoreTopology``
    ///     (for example ``MemorySessionStore/topology(nodeIDs:failoverNodeIDs:clock:)``).
    ///   - logger: where the manager logs (nodes marked down and back, unreadable sessions, ...).
    ///   - onEvent: called when a session is created or destroyed (invalidated or found expired).
    /// - Throws: ``SessionConfigurationError`` naming the setting that cannot work.
    public init(
        configuration: SessionManagerConfiguration,
        store: some SessionStore,
        logger: Logger = Logger(label: "session-manager"),
        onEvent: (@Sendable (SessionEvent) -> Void)? = nil
    ) throws(SessionConfigurationError) {
        self.patterns = try SessionPatterns(configuration)
        try Self.validate(configuration, store: store.topology)
        self.configuration = configuration
        self.logger = logger
        self.store = store
        self.onEvent = onEvent
        let topology = configuration.enabled ? store.topology : SessionStoreTopology(nodes: [])
        self.nodes = SessionNodes(topology: topology, availabilityTTL: configuration.nodeAvailabilityTTL, logger: logger)
        self.local = LocalSessions(capacity: configuration.maximumLocalSessions)
        self.locking = SessionLocking(
            expirationSeconds: max(1, Int(configuration.lockExpiration.components.seconds)),
            metrics: metrics
        )
        self.refreshIntervalMilliseconds = Int64(max(1, configuration.maxInactiveIntervalSeconds / 10)) * 1000
        self.cookies = SessionCookieFormatter(configuration.cookie)
    }

    // MARK: Lifecycle

    /// Where the manager is in its life as a `Service`.
    enum Lifecycle: UInt8, AtomicRepresentable {
        case created, warnedNotRunning, running
    }

    /// Runs until graceful shutdown, then waits for the store writes still running after their
    /// responses (`sessionBackupAsync`), then closes the store (its clients' connections).
    public func run() async throws {
        lifecycle.store(.running, ordering: .relaxed)
        try? await gracefulShutdown()
        await shutdown()
    }

    /// What ``run()`` does at graceful shutdown, for hosts with their own lifecycle (Vapor's
    /// `LifecycleHandler`): waits for the writes still running after their responses, then
    /// closes the store.
    public func shutdown() async {
        await waitForPendingStores()
        await store.shutdown()
    }

    /// For adapters whose framework runs the manager's lifecycle itself (calling ``shutdown()``
    /// at the end): no warning about a manager that is not run as a service.
    package func markRunByHost() {
        lifecycle.store(.running, ordering: .relaxed)
    }

    /// Returns once no store write started by `sessionBackupAsync` is still running.
    public func waitForPendingStores() async {
        await pendingWrites.waitUntilIdle()
    }

    // MARK: Requests

    /// Starts a request's session work; `nil` when the path matches `requestURIIgnorePattern`
    /// and the request must do no session work at all.
    /// - Parameters:
    ///   - cookie: the session cookie's value, if the request carried one. Anything that is not an
    ///     id this manager issued (malformed, unknown node) is treated as no cookie.
    ///   - method: the request method, which `lockingMode` `auto` and `uriPattern` match.
    ///   - path: the request path without query string.
    ///   - logger: where this request's session work logs (a lock not acquired, an unreadable or
    ///     unstorable session), so those lines carry the request's metadata: Vapor's `req.logger`,
    ///     Hummingbird's `context.logger`. The manager's own logger when `nil`; node state changes
    ///     always go there.
    public func beginRequest(cookie: String?, method: String, path: String, logger: Logger? = nil) -> SessionRequest? {
        if patterns.isIgnored(path: path) {
            metrics.ignoredRequests.increment()
            return nil
        }
        return beginSessionRequest(cookie: cookie, method: method, path: path, logger: logger)
    }

    /// ``beginRequest(cookie:method:path:logger:)`` without the ignore pattern, for adapters whose
    /// framework has already decided that the request has a session (Vapor's `SessionDriver`).
    package func beginSessionRequest(cookie: String?, method: String, path: String, logger: Logger? = nil) -> SessionRequest {
        if lifecycle.load(ordering: .relaxed) == .created { warnIfNotRunning() }
        return SessionRequest(
            manager: self, cookie: cookie, requestedID: requestedSessionID(cookie), method: method, path: path,
            logger: logger ?? self.logger
        )
    }

    /// Says once that the manager is not running as a service, when that costs something: a
    /// store with connections to close (a bare topology owns none; tests use one without running).
    private func warnIfNotRunning() {
        guard lifecycle.compareExchange(expected: .created, desired: .warnedNotRunning, ordering: .relaxed).exchanged,
            !(store is SessionStoreTopology)
        else { return }
        logger.warning(
            "the SessionManager serves requests but is not running as a service: add it to your app's services (app.addServices(manager), or a ServiceGroup); otherwise writes still running at shutdown are lost and the store's connections are never closed"
        )
    }

    /// True when `path` matches `requestURIIgnorePattern`.
    public func isIgnored(path: String) -> Bool {
        patterns.isIgnored(path: path)
    }

    /// The `Set-Cookie` header value for `action`, or `nil` for ``SessionCookieAction/none``.
    public func setCookieHeader(for action: SessionCookieAction) -> String? {
        cookies.header(for: action)
    }

    /// The cookie's value when it names a session this manager could have issued.
    func requestedSessionID(_ cookie: String?) -> SessionID? {
        guard let cookie, let id = SessionID(parsing: cookie) else { return nil }
        if nodes.usesNodeIDs {
            guard nodes.index(of: id.nodeID) != nil, id.nodeID != nil else { return nil }
        } else if id.nodeID != nil {
            return nil
        }
        return id
    }

    func shouldLock(method: String, path: String) -> Bool {
        guard !configuration.sticky else { return false }
        switch configuration.lockingMode {
        case .none: return false
        case .all: return true
        case .auto: return !readOnlyRequests.isReadOnly("\(method) \(path)")
        case .uriPattern: return patterns.locks(method: method, path: path)
        }
    }

    /// Wall-clock milliseconds from the configured clock.
    func now() -> Int64 { configuration.clock.nowMilliseconds() }

    func storageKey(_ random: String) -> String { configuration.storageKeyPrefix + random }
    func lockKey(_ random: String) -> String { configuration.storageKeyPrefix + "lock:" + random }
    func emit(_ event: SessionEvent) { onEvent?(event) }
}
