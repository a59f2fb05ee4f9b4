import Logging
import ServiceLifecycle

/// msm's session manager, free of any web framework: where sessions live, when they are loaded
/// and stored, how they survive a dead store node or app server.
///
/// Adapters call ``beginRequest(cookie:method:path:)`` when a request arrives, hand the returned
/// ``SessionRequest`` to the handler, and call ``SessionRequest/finish()`` before the response
/// leaves; it stores what changed and says which `Set-Cookie` to send. As a swift-service-lifecycle
/// `Service` it lets asynchronous stores finish on shutdown.
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
    let patterns: SessionPatterns
    let onEvent: (@Sendable (SessionEvent) -> Void)?
    /// An unchanged session's store copy is rewritten (to keep its expiry) at most this often.
    let refreshIntervalMilliseconds: Int64
    private let cookies: SessionCookieFormatter

    /// Creates a manager over `store`.
    /// - Parameters:
    ///   - onEvent: called when a session is created or destroyed (invalidated or found expired).
    /// - Throws: ``SessionConfigurationError`` naming the setting that cannot work.
    public init(
        configuration: SessionManagerConfiguration,
        store: SessionStoreTopology,
        logger: Logger = Logger(label: "session-manager"),
        onEvent: (@Sendable (SessionEvent) -> Void)? = nil
    ) throws(SessionConfigurationError) {
        self.patterns = try SessionPatterns(configuration)
        try Self.validate(configuration, store: store)
        self.configuration = configuration
        self.logger = logger
        self.onEvent = onEvent
        let topology = configuration.enabled ? store : SessionStoreTopology(nodes: [])
        self.nodes = SessionNodes(topology: topology, availabilityTTL: configuration.nodeAvailabilityTTL, logger: logger)
        self.local = LocalSessions(capacity: configuration.maximumLocalSessions)
        self.locking = SessionLocking(
            expirationSeconds: max(1, Int(configuration.lockExpiration.components.seconds)),
            logger: logger,
            metrics: metrics
        )
        self.refreshIntervalMilliseconds = Int64(max(1, configuration.maxInactiveInterval / 10)) * 1000
        self.cookies = SessionCookieFormatter(configuration.cookie)
    }

    // MARK: Lifecycle

    /// Runs until graceful shutdown, then waits for the store writes still running after their
    /// responses (`sessionBackupAsync`). Register it after the store's client in a `ServiceGroup`,
    /// so it shuts down first and the client is still there for those writes.
    public func run() async throws {
        try? await gracefulShutdown()
        await waitForPendingStores()
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
    ///   - path: the request path without query string.
    public func beginRequest(cookie: String?, method: String, path: String) -> SessionRequest? {
        if patterns.isIgnored(path: path) {
            metrics.ignoredRequests.increment()
            return nil
        }
        return SessionRequest(manager: self, cookie: cookie, requestedID: requestedSessionID(cookie), method: method, path: path)
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
