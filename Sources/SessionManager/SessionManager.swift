import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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
    private let patterns: SessionPatterns
    private let onEvent: (@Sendable (SessionEvent) -> Void)?
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
            timeout: configuration.lockTimeout,
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

    // MARK: Opening sessions

    enum LoadResult {
        case found(Session)
        case notFound
        case storeUnavailable
    }

    /// Reads a session from its node, or from another node holding its backup copy when its node
    /// is down (then the session migrates: its id names the node it now lives on).
    func loadFromStore(_ id: SessionID) async -> LoadResult {
        guard let primary = nodes.index(of: id.nodeID), !nodes.nodes.isEmpty else { return .notFound }
        let key = storageKey(id.random)
        var anyNodeAnswered = false
        if await nodes.isAvailable(primary) {
            do {
                let stored = try await nodes.store(primary).get(key)
                metrics.loads.increment()
                if let stored {
                    guard let session = await decode(stored, id: id) else {
                        metrics.loadsNotFound.increment()
                        return .notFound
                    }
                    if await nodes.shouldLeaveFailoverNode(primary), let target = await nodes.nodeForNewSession(excluding: primary) {
                        relocate(session, to: target)
                    }
                    return .found(session)
                }
                // A live primary without the session: gone, unless the node restarted empty while
                // the backup copy survived. Look there, and write the session back if found.
                guard configuration.backupEnabled else {
                    metrics.loadsNotFound.increment()
                    return .notFound
                }
                if let restored = await readBackup(of: id, key: key, primary: primary) {
                    restored.withState { $0.mustStore = true }
                    logger.info("session restored from its backup copy onto its restarted node", metadata: ["session": "\(id)"])
                    return .found(restored)
                }
                metrics.loadsNotFound.increment()
                return .notFound
            } catch {
                if error.kind == .nodeUnavailable {
                    nodes.markDown(primary, because: error)
                } else {
                    logger.error("session read failed", metadata: ["session": "\(id)", "error": "\(error.message)"])
                    return .notFound
                }
            }
        }
        for index in nodes.others(than: primary) where await nodes.isAvailable(index) {
            do throws(SessionStoreError) {
                let stored = try await nodes.store(index).get(key)
                anyNodeAnswered = true
                guard let stored, let session = await decode(stored, id: id) else { continue }
                metrics.failovers.increment()
                let target = nodes.nodes[index].isFailover ? (await nodes.nodeForNewSession() ?? index) : index
                relocate(session, to: target)
                logger.info("session failed over to its backup copy", metadata: [
                    "session": "\(id)", "from": "\(id.nodeID ?? "-")", "to": "\(nodes.id(of: target) ?? "-")",
                ])
                return .found(session)
            } catch {
                if error.kind == .nodeUnavailable { nodes.markDown(index, because: error) }
            }
        }
        return anyNodeAnswered ? .notFound : .storeUnavailable
    }

    /// The session from whichever other node holds a copy, read without moving it.
    private func readBackup(of id: SessionID, key: String, primary: Int) async -> Session? {
        for index in nodes.others(than: primary) where await nodes.isAvailable(index) {
            do throws(SessionStoreError) {
                guard let stored = try await nodes.store(index).get(key) else { continue }
                return await decode(stored, id: id)
            } catch {
                if error.kind == .nodeUnavailable { nodes.markDown(index, because: error) }
            }
        }
        return nil
    }

    /// The stored bytes as a session, or `nil` (logged, counted) when unreadable or expired.
    private func decode(_ bytes: [UInt8], id: SessionID) async -> Session? {
        let record: SessionRecord
        do {
            record = try SessionEnvelope.decode(bytes)
        } catch {
            metrics.unreadable.increment()
            logger.warning("unreadable session data; the request gets a new session", metadata: ["session": "\(id)", "error": "\(error)"])
            return nil
        }
        guard record.id == id.random else {
            metrics.unreadable.increment()
            logger.warning("stored session belongs to another id; ignored", metadata: ["session": "\(id)"])
            return nil
        }
        let now = currentTimeMilliseconds()
        if record.maxInactiveInterval > 0,
            now - record.lastAccessedTime > Int64(record.maxInactiveInterval) * 1000 + refreshIntervalMilliseconds
        {
            await expire(id)
            return nil
        }
        return Session(
            state: Session.State(
                id: id,
                creationTime: record.creationTime,
                lastAccessedTime: now,
                maxInactiveInterval: Int(record.maxInactiveInterval),
                attributes: record.attributes,
                storedAttributes: record.attributes,
                storedAccessTime: record.lastAccessedTime
            ),
            coder: configuration.attributeCoder
        )
    }

    /// A new session on an available node (a failover node only if no regular one is up).
    func createSession() async throws(SessionError) -> Session {
        var nodeID: String?
        if !nodes.nodes.isEmpty {
            if let index = await nodes.nodeForNewSession() {
                nodeID = nodes.id(of: index)
            } else if configuration.sticky {
                // Every node is down: serve from memory; the first store write that succeeds places it.
                nodeID = nodes.nodes.first(where: { !$0.isFailover })?.id
            } else {
                throw SessionError(.storeUnavailable, "no session store node is reachable, so a new session cannot be kept")
            }
        }
        let id = SessionID.generate(nodeID: nodeID, route: configuration.route)
        let now = currentTimeMilliseconds()
        let session = Session(
            state: Session.State(
                id: id, creationTime: now, lastAccessedTime: now, maxInactiveInterval: configuration.maxInactiveInterval,
                attributes: [:], storedAttributes: nil, storedAccessTime: now, mustStore: true
            ),
            coder: configuration.attributeCoder
        )
        metrics.created.increment()
        onEvent?(.created(id))
        return session
    }

    /// A session last served by another app server now belongs to this one: its id carries this
    /// server's route, so a sticky balancer sends the next request here (msm's Tomcat failover).
    func takeOver(_ session: Session) {
        guard let route = configuration.route else { return }
        let tookOver = session.withState { state -> Bool in
            guard state.id.route != route else { return false }
            state.id = state.id.routed(to: route)
            return true
        }
        if tookOver { metrics.takeovers.increment() }
    }

    func relocate(_ session: Session, to index: Int) {
        let nodeID = nodes.id(of: index)
        session.withState { state in
            guard state.id.nodeID != nodeID else { return }
            state.id = state.id.relocated(to: nodeID)
            state.mustStore = true
        }
        metrics.relocations.increment()
    }

    /// True when a sticky local copy has been idle past its expiry.
    func isExpiredLocally(_ session: Session, now: Int64) -> Bool {
        session.withState { state in
            state.maxInactiveInterval > 0 && now - state.lastAccessedTime > Int64(state.maxInactiveInterval) * 1000
        }
    }

    func expire(_ id: SessionID) async {
        local.remove(id.random)
        metrics.destroyedExpired.increment()
        onEvent?(.destroyed(id, .expired))
        await deleteEverywhere(random: id.random)
    }

    // MARK: Storing

    enum StoreOutcome {
        case unchanged
        case stored(changedAttributes: Bool)
        case deleted
        case deferred
    }

    /// Writes the session if it changed, must be written, or its store expiry needs refreshing;
    /// deletes every copy if it was invalidated.
    func store(_ session: Session) async throws(SessionError) -> StoreOutcome {
        await session.storeGate.enter()
        defer { session.storeGate.leave() }
        return try await storeHoldingGate(session)
    }

    private func storeHoldingGate(_ session: Session) async throws(SessionError) -> StoreOutcome {
        let now = currentTimeMilliseconds()
        let refreshInterval = refreshIntervalMilliseconds
        let untouched = session.withState { state in
            state.isValid && !state.mustStore && state.changeCount == state.storedChangeCount
                && !(state.maxInactiveInterval > 0 && now - state.storedAccessTime >= refreshInterval)
        }
        guard !untouched else {
            metrics.storesSkipped.increment()
            return .unchanged
        }
        let snapshot = session.withState { state in
            let persisted = patterns.persistedAttributes(state.attributes)
            return (
                id: state.id, isValid: state.isValid, persisted: persisted,
                changed: state.storedAttributes != persisted,
                mustStore: state.mustStore,
                refreshDue: state.maxInactiveInterval > 0 && now - state.storedAccessTime >= refreshInterval,
                creationTime: state.creationTime, maxInactiveInterval: state.maxInactiveInterval,
                retired: state.retiredRandoms, changeCount: state.changeCount
            )
        }
        guard snapshot.isValid else {
            // Non-sticky: the last request's release drops the entry and returns its lock.
            if configuration.sticky { local.remove(snapshot.id.random) }
            metrics.destroyedInvalidated.increment()
            onEvent?(.destroyed(snapshot.id, .invalidated))
            for random in [snapshot.id.random] + snapshot.retired { await deleteEverywhere(random: random) }
            return .deleted
        }
        guard snapshot.changed || snapshot.mustStore || snapshot.refreshDue else {
            // Writes that set the values already stored: nothing to store, and the next
            // read-only request may skip the comparison.
            session.withState { state in
                if state.changeCount == snapshot.changeCount { state.storedChangeCount = snapshot.changeCount }
            }
            metrics.storesSkipped.increment()
            return .unchanged
        }
        guard !nodes.nodes.isEmpty else {
            markStored(session, storedID: snapshot.id, changeCount: snapshot.changeCount, attributes: snapshot.persisted, at: now)
            return .stored(changedAttributes: snapshot.changed)
        }

        let clock = ContinuousClock()
        let encodingStart = clock.now
        let bytes = SessionEnvelope.encode(SessionRecord(
            id: snapshot.id.random, creationTime: snapshot.creationTime, lastAccessedTime: now,
            maxInactiveInterval: Int32(clamping: snapshot.maxInactiveInterval), attributes: snapshot.persisted
        ))
        metrics.serialization.recordNanoseconds((clock.now - encodingStart).nanosecondsClamped)
        metrics.serializedSize.record(bytes.count)

        guard var target = await placement(for: session) else {
            session.withState { $0.mustStore = true }
            metrics.storeFailures.increment()
            logger.warning("no session store node is reachable; session kept in memory only", metadata: ["session": "\(snapshot.id)"])
            if configuration.sticky { return .deferred }
            throw SessionError(.storeUnavailable, "no session store node is reachable; the session change was not saved")
        }
        let expiration = storeExpirationSeconds(snapshot.maxInactiveInterval)
        for attempt in 0..<2 {
            do throws(SessionStoreError) {
                try await write(bytes, key: storageKey(snapshot.id.random), primary: target, expiration: expiration)
                // The id names the new node only once the session really lives there.
                relocate(session, to: target)
                markStored(session, storedID: snapshot.id, changeCount: snapshot.changeCount, attributes: snapshot.persisted, at: now)
                metrics.stores.increment()
                // Only now that the session lives under its new id may the old ids die.
                for random in snapshot.retired { await deleteEverywhere(random: random) }
                return .stored(changedAttributes: snapshot.changed)
            } catch {
                if error.kind == .valueTooLarge {
                    metrics.storeFailures.increment()
                    logger.error("session too large for the store", metadata: ["session": "\(snapshot.id)", "bytes": "\(bytes.count)", "error": "\(error.message)"])
                    await restoreLastStoredVersion(of: session, changed: snapshot.persisted, key: storageKey(snapshot.id.random), node: target, expiration: expiration)
                    throw SessionError(.sessionTooLarge, "the session is \(bytes.count) bytes, more than the store accepts: \(error.message); the change was discarded")
                }
                nodes.markDown(target, because: error)
                guard attempt == 0, let next = await nodes.nodeForNewSession(excluding: target) else { break }
                target = next
            }
        }
        session.withState { $0.mustStore = true }
        metrics.storeFailures.increment()
        logger.warning("session could not be stored on any node; kept in memory only", metadata: ["session": "\(snapshot.id)"])
        if configuration.sticky { return .deferred }
        throw SessionError(.storeUnavailable, "the session could not be written to any store node")
    }

    /// memcached drops the old item when it refuses a new one as too large (Redis keeps it), so
    /// the last stored version is written back and the refused change undone in memory: store and
    /// memory agree.
    private func restoreLastStoredVersion(of session: Session, changed persisted: [String: [UInt8]], key: String, node: Int, expiration: Int) async {
        let record = session.withState { state -> SessionRecord? in
            guard let stored = state.storedAttributes else { return nil }
            for name in Set(persisted.keys).union(stored.keys) where stored[name] != state.attributes[name] {
                state.attributes[name] = stored[name]
            }
            return SessionRecord(
                id: state.id.random, creationTime: state.creationTime, lastAccessedTime: state.storedAccessTime,
                maxInactiveInterval: Int32(clamping: state.maxInactiveInterval), attributes: stored
            )
        }
        guard let record else { return }
        try? await write(SessionEnvelope.encode(record), key: key, primary: node, expiration: expiration)
    }

    /// For stores that run after the response (`sessionBackupAsync`): move the session now to the
    /// node it will be written to, so the response's cookie already names it.
    func placeBeforeAsyncStore(_ session: Session) async {
        guard !nodes.nodes.isEmpty, let target = await placement(for: session) else { return }
        relocate(session, to: target)
    }

    /// The node the session is written to: its own, unless that one is down or the session should
    /// leave a failover node.
    private func placement(for session: Session) async -> Int? {
        guard let current = nodes.index(of: session.id.nodeID) else { return await nodes.nodeForNewSession() }
        if await nodes.isAvailable(current) {
            if await nodes.shouldLeaveFailoverNode(current), let target = await nodes.nodeForNewSession(excluding: current) {
                return target
            }
            return current
        }
        return await nodes.nodeForNewSession(excluding: current)
    }

    /// Primary and backup copies are written concurrently; only the primary's failure fails the store.
    private func write(_ bytes: [UInt8], key: String, primary: Int, expiration: Int) async throws(SessionStoreError) {
        let backup = configuration.backupEnabled ? await nodes.backupNode(for: primary) : nil
        async let backupWritten: SessionStoreError? = writeBackup(bytes, key: key, node: backup, expiration: expiration)
        do {
            try await nodes.store(primary).set(key, value: bytes, expirationSeconds: expiration)
        } catch {
            _ = await backupWritten
            throw error
        }
        if let backupError = await backupWritten, let backup {
            metrics.backupFailures.increment()
            if backupError.kind == .nodeUnavailable { nodes.markDown(backup, because: backupError) }
        }
    }

    private func writeBackup(_ bytes: [UInt8], key: String, node: Int?, expiration: Int) async -> SessionStoreError? {
        guard let node else { return nil }
        do {
            try await nodes.store(node).set(key, value: bytes, expirationSeconds: expiration)
            return nil
        } catch {
            return error
        }
    }

    /// Records what the store now holds. A session whose id changed while the write was in
    /// flight (login rotation) still must be stored under its new id.
    private func markStored(_ session: Session, storedID: SessionID, changeCount: UInt64, attributes: [String: [UInt8]], at now: Int64) {
        session.withState { state in
            state.storedAttributes = attributes
            state.storedAccessTime = now
            state.storedChangeCount = changeCount
            if state.id.random == storedID.random {
                state.mustStore = false
                state.retiredRandoms.removeAll()
            }
        }
    }

    /// Store copies outlive the session by one more interval, so an expired session can still be
    /// recognised (and its `destroyed` event fired) when it is next requested.
    func storeExpirationSeconds(_ maxInactiveInterval: Int) -> Int {
        maxInactiveInterval <= 0 ? 0 : 2 * maxInactiveInterval + Int(refreshIntervalMilliseconds / 1000)
    }

    func deleteEverywhere(random: String) async {
        let key = storageKey(random)
        await withTaskGroup(of: Void.self) { group in
            for index in nodes.nodes.indices {
                group.addTask {
                    guard await self.nodes.isAvailable(index) else { return }
                    do throws(SessionStoreError) {
                        try await self.nodes.store(index).delete(key)
                    } catch {
                        if error.kind == .nodeUnavailable { self.nodes.markDown(index, because: error) }
                    }
                }
            }
        }
    }

    func storageKey(_ random: String) -> String { configuration.storageKeyPrefix + random }

    func lockKey(_ random: String) -> String { configuration.storageKeyPrefix + "lock:" + random }

    func emit(_ event: SessionEvent) { onEvent?(event) }

    // MARK: Validation

    private static func validate(_ configuration: SessionManagerConfiguration, store: SessionStoreTopology) throws(SessionConfigurationError) {
        if !configuration.enabled && !configuration.sticky {
            throw SessionConfigurationError(setting: "enabled", "a disabled store only works with sticky sessions (non-sticky sessions live nowhere else)")
        }
        if configuration.enabled {
            if store.nodes.isEmpty {
                throw SessionConfigurationError(setting: "memcachedNodes", "no store node given")
            }
            if store.nodes.count > 1, store.nodes.contains(where: { $0.id == nil }) {
                throw SessionConfigurationError(setting: "memcachedNodes", "with several nodes every node needs an id (id:host:port)")
            }
            for node in store.nodes {
                if let id = node.id, !SessionID.isValidNodeID(id) {
                    throw SessionConfigurationError(setting: "memcachedNodes", "node id \"\(id)\" must be letters, digits or '_' (it becomes part of session ids)")
                }
            }
            if !store.nodes.isEmpty, store.nodes.allSatisfy(\.isFailover) {
                throw SessionConfigurationError(setting: "failoverNodes", "at least one node must not be a failover node")
            }
        }
        if let route = configuration.route, !SessionID.isValidRoute(route) {
            throw SessionConfigurationError(setting: "route (jvmRoute)", "\"\(route)\" must be 1-64 letters, digits, '_' or '-'")
        }
        let prefix = configuration.storageKeyPrefix
        if prefix.utf8.count > 64 || prefix.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            throw SessionConfigurationError(setting: "storageKeyPrefix", "at most 64 printable ASCII characters without spaces")
        }
        if configuration.maximumLocalSessions < 1 {
            throw SessionConfigurationError(setting: "maximumLocalSessions", "must be at least 1")
        }
        if configuration.lockExpiration < .seconds(1) {
            throw SessionConfigurationError(setting: "lockExpiration", "must be at least 1 s (the store's resolution)")
        }
        if configuration.lockTimeout <= .zero {
            throw SessionConfigurationError(setting: "lockTimeout", "must be positive")
        }
        if configuration.nodeAvailabilityTTL <= .zero {
            throw SessionConfigurationError(setting: "nodeAvailabilityTTL", "must be positive")
        }
        try SessionCookieFormatter.validate(configuration.cookie)
    }
}

/// Wall-clock milliseconds since the Unix epoch: session timestamps travel between servers.
func currentTimeMilliseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
}
