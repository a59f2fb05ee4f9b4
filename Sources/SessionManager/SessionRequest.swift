import Logging
import Synchronization

/// One request's view of its session: loaded (and locked) lazily on first use, stored when the
/// request finishes.
///
/// A request that never asks for its session causes no store traffic and no cookie.
public actor SessionRequest {
    private let manager: SessionManager
    private let cookie: String?
    private let requestedID: SessionID?
    private let method: String
    private let path: String
    /// The framework's request logger (or the manager's): request-scoped lines carry its metadata.
    private let logger: Logger

    private var session: Session?
    private var resolved = false
    /// Whether this request counts as a user of its session in `LocalSessions` (non-sticky); it
    /// is released under the session's id at finish, whatever that id has become meanwhile.
    private var retained = false
    private var finished = false
    /// Whether a call that may open the session came, or ``finishIfUnused()`` ended the request:
    /// what lets that decide without entering the actor (``Usage``).
    private nonisolated let usage = Atomic<UInt8>(Usage.unused)

    private enum Usage {
        static let unused: UInt8 = 0
        static let used: UInt8 = 1
        /// ``finishIfUnused()`` ended the request: nothing may open a session for it any more
        /// (nobody would store or unlock it), and ``finish()`` has nothing left to do.
        static let endedUnused: UInt8 = 2
    }
    /// ``persist()`` already stored a change: `auto` locking must still learn "modifying".
    private var persistedAChange = false
    /// The turn this request holds on its session when it locks (non-sticky), with the store lock.
    private var turn: HeldTurn?
    /// Whether this request locks its session, decided once (`auto` may learn meanwhile).
    private lazy var locks: Bool = manager.shouldLock(method: method, path: path)

    /// A locking request's hold on its session, ended (or handed on) when the request finishes.
    struct HeldTurn: Sendable {
        /// The random part of the id the turn was taken on; a rotated id keeps it.
        var random: String
        var lock: SessionLock?
        var lockedAt: ContinuousClock.Instant
        var holders: Int
    }

    /// How many requests of one process may hold a store lock in a row before it goes back to
    /// the store, where other app servers' requests wait for it.
    static let maximumConsecutiveHolders = 16

    init(manager: SessionManager, cookie: String?, requestedID: SessionID?, method: String, path: String, logger: Logger) {
        self.manager = manager
        self.logger = logger
        self.cookie = cookie
        self.requestedID = requestedID
        self.method = method
        self.path = path
    }

    deinit {
        // An adapter that never called finish() (a bug, or a cancelled task) must not leave the
        // session's turn and lock held: every later request on it would wait out its timeout.
        guard let turn else { return }
        let manager = self.manager
        let logger = self.logger
        Task { await Self.end(turn, handingOver: nil, manager: manager, logger: logger) }
    }

    /// Ends a request that never asked for its session, without a suspension: `true` when there
    /// was nothing to do, and then ``finish()`` need not be called (it would do nothing). Lets an
    /// adapter answer such requests (health checks, static files) without an actor hop.
    public nonisolated func finishIfUnused() -> Bool {
        guard usage.compareExchange(expected: Usage.unused, desired: Usage.endedUnused, ordering: .acquiringAndReleasing).exchanged
        else { return false }
        manager.metrics.requestsWithoutSession.increment()
        return true
    }

    /// The id the request's cookie named, if it is one this manager could have issued.
    public nonisolated var requestedSessionID: SessionID? { requestedID }

    /// The request's session: the one its cookie names if that still exists, else a new one (a
    /// client-chosen id is never adopted). A new session is stored, and its cookie sent, when the
    /// request finishes.
    /// - Throws: ``SessionError/Code/lockTimeout`` or ``SessionError/Code/storeUnavailable`` (non-sticky).
    public func session() async throws(SessionError) -> Session {
        if let existing = try await existingSession() { return existing }
        // Single flight, as for the open: concurrent callers get the one new session.
        let result: Result<Session, SessionError>
        if creating.isRunning {
            result = await withCheckedContinuation { creating.wait($0) }
        } else {
            creating.start()
            result = await createAndHold()
            creating.finish(result)
        }
        let created = try result.get()
        if let session { return session }
        session = created
        return created
    }

    /// The session the request's cookie names, if it still exists; never creates one, so a page
    /// that only reads (an anonymous visitor's empty cart) stores nothing and sends no cookie.
    /// - Throws: ``SessionError/Code/lockTimeout`` or ``SessionError/Code/storeUnavailable`` (non-sticky).
    public func existingSession() async throws(SessionError) -> Session? {
        if usage.compareExchange(expected: Usage.unused, desired: Usage.used, ordering: .acquiringAndReleasing).original
            == Usage.endedUnused
        {
            logger.error("session asked for after its request was finished; the request has none")
            return nil
        }
        if !resolved {
            // Single flight: concurrent callers of one request share one open (one load, one lock,
            // one user count), whatever interleaving the actor's suspension allows.
            let result: Result<Session?, SessionError>
            if opening.isRunning {
                result = await withCheckedContinuation { opening.wait($0) }
            } else {
                opening.start()
                result = await openRequestedSession()
                opening.finish(result)
            }
            // A failed open (lock timeout, store down) is retried by the next call, never
            // mistaken for "no session" (which would replace the user's session).
            let opened = try result.get()
            if !resolved {
                session = opened
                resolved = true
            }
        }
        return session
    }

    private var opening = SingleFlight<Session?>()
    private var creating = SingleFlight<Session>()

    private func openRequestedSession() async -> Result<Session?, SessionError> {
        guard let requestedID else { return .success(nil) }
        do throws(SessionError) {
            return .success(try await manager.configuration.sticky ? openSticky(requestedID) : openNonSticky(requestedID))
        } catch {
            return .failure(error)
        }
    }

    private func createAndHold() async -> Result<Session, SessionError> {
        do throws(SessionError) {
            let created = try await manager.createSession()
            if !manager.configuration.sticky, locks, turn == nil {
                // Nobody knows the new id yet, so the turn is free; holding it keeps a request
                // that arrives with the new cookie before an asynchronous store ends waiting.
                _ = await manager.turns.take(created.id.random, timeout: manager.configuration.lockTimeout)
                turn = HeldTurn(random: created.id.random, lock: nil, lockedAt: ContinuousClock.now, holders: 1)
            } else {
                hold(created)
            }
            return .success(created)
        } catch {
            return .failure(error)
        }
    }

    /// Gives the session a new id, keeping its attributes; every copy under the old id is removed
    /// (session fixation protection at login). Creates the session if there is none.
    @discardableResult
    public func changeSessionID() async throws(SessionError) -> SessionID {
        let session = try await session()
        let old = session.id
        let new = SessionID.generate(nodeID: old.nodeID, route: manager.configuration.route ?? old.route)
        // One step under the local sessions' lock, so concurrent requests sharing this session
        // find it (and release it) under the new id. The old id dies once the new one is stored.
        manager.local.changeID(of: session, from: old.random) { state in
            state.id = new
            state.mustStore = true
            state.retiredRandoms.append(old.random)
        }
        return new
    }

    /// Logs a user in: gives the session a new id (session fixation protection; the old id dies
    /// everywhere) and records `userID` in it, where ``Session/userID(as:)`` (and the Hummingbird
    /// authenticator) read it. Creates the session if there is none.
    @discardableResult
    public func logIn<UserID: Encodable & Sendable>(userID: UserID) async throws(SessionError) -> Session {
        try await changeSessionID()
        let session = try await session()
        try session.setAttribute(Session.userIDAttributeName, userID)
        return session
    }

    /// Logs out: ends the session, if there is one (every copy removed when the request finishes,
    /// the cookie expired). Anything else the session held goes with it.
    public func logOut() async throws(SessionError) {
        try await existingSession()?.invalidate()
    }

    /// The logged-in user's id, if the request has a session and someone logged in; never creates.
    /// An id recorded as another type (the id type changed in a deployment) is nobody logged in,
    /// with a warning, rather than a failed request: authenticators build on this.
    /// - Throws: as ``existingSession()``.
    public func userID<ID: Decodable & Sendable>(as type: ID.Type = ID.self) async throws(SessionError) -> ID? {
        guard let session = try await existingSession() else { return nil }
        do {
            return try session.userID(as: type)
        } catch {
            logger.warning(
                "session user id unreadable; treating the request as not logged in", metadata: ["session": "\(session.id)", "error": "\(error)"])
            return nil
        }
    }

    /// Stores the session now rather than at ``finish()``: for a handler that must show where the
    /// session lives (after a failover its id names a new node only once it is stored there), or
    /// that wants the write done before it calls another service. ``finish()`` still runs.
    public func persist() async throws(SessionError) {
        guard let session, !finished else { return }
        if case .stored(true) = try await manager.store(session, logger: logger) { persistedAChange = true }
    }

    /// Stores the session if it changed (or deletes it if invalidated), releases its lock, and
    /// says what to do with the cookie. Call it before the response leaves (msm #263), unless
    /// `sessionBackupAsync` is configured, in which case the write runs after this returns.
    public func finish() async throws(SessionError) -> SessionCookieAction {
        // After finishIfUnused() there is nothing to do; otherwise it must not end the request too.
        if usage.compareExchange(expected: Usage.unused, desired: Usage.used, ordering: .acquiringAndReleasing).original
            == Usage.endedUnused
        {
            return .none
        }
        guard !finished else { return .none }
        finished = true
        guard let session else {
            manager.metrics.requestsWithoutSession.increment()
            return .none
        }
        manager.metrics.requestsWithSession.increment()
        let (retained, manager, logger) = (self.retained ? session.id.random : nil, self.manager, self.logger)
        let turn = self.turn
        self.turn = nil
        if manager.configuration.sessionBackupAsync, session.isValid {
            await manager.placeBeforeAsyncStore(session)
            manager.pendingWrites.start {
                let stored = (try? await manager.store(session, logger: logger)) != nil
                Self.release(retained, manager: manager)
                await Self.end(turn, handingOver: stored ? session : nil, manager: manager, logger: logger)
            }
            return cookieAction(for: session)
        }
        let outcome: SessionManager.StoreOutcome
        do {
            outcome = try await manager.store(session, logger: logger)
        } catch {
            Self.release(retained, manager: manager)
            await Self.end(turn, handingOver: nil, manager: manager, logger: logger)
            throw error
        }
        // Released only after the write: the next request (and lock holder) sees the new state.
        Self.release(retained, manager: manager)
        await Self.end(turn, handingOver: session, manager: manager, logger: logger)
        if case .auto = manager.configuration.lockingMode {
            let modified: Bool
            switch outcome {
            case .unchanged: modified = false
            case .stored(let changedAttributes): modified = changedAttributes
            case .deleted, .deferred: modified = true
            }
            manager.readOnlyRequests.record("\(method) \(path)", modified: modified || persistedAChange)
        }
        if case .deleted = outcome { return cookie == nil ? .none : .expire }
        return cookieAction(for: session)
    }

    private func cookieAction(for session: Session) -> SessionCookieAction {
        let id = session.id
        return id.description == cookie ? .none : .set(id)
    }

    private static func release(_ retained: String?, manager: SessionManager) {
        guard let retained else { return }
        manager.local.release(retained, dropWhenUnused: true)
    }

    /// Ends a locking request's turn. The just-stored `session` and the store lock go to the next
    /// request of this process waiting for the same session, while the lock is young and has not
    /// stayed here too long; otherwise the lock is released and the next waiter locks for itself.
    private static func end(_ turn: HeldTurn?, handingOver session: Session?, manager: SessionManager, logger: Logger) async {
        guard let turn else { return }
        if let session, let lock = turn.lock, session.isValid, session.id.random == turn.random,
            turn.holders < maximumConsecutiveHolders,
            ContinuousClock.now - turn.lockedAt < manager.configuration.lockExpiration / 2,
            manager.turns.handOff(turn.random, .init(session: session, lock: lock, lockedAt: turn.lockedAt, holders: turn.holders + 1))
        {
            manager.metrics.lockHandoffs.increment()
            return
        }
        if let lock = turn.lock { await manager.locking.release(lock, on: manager.nodes, logger: logger) }
        manager.turns.end(turn.random)
    }

    /// Ends this request's turn early (its open failed or found no session).
    private func endTurn() async {
        let turn = self.turn
        self.turn = nil
        await Self.end(turn, handingOver: nil, manager: manager, logger: logger)
    }

    /// A load as the request-level result: a store that nobody answers is an error, never "no session".
    private static func load(_ id: SessionID, manager: SessionManager, logger: Logger) async -> LocalSessions.LoadResult {
        switch await manager.loadFromStore(id, logger: logger) {
        case .found(let loaded): return .success(loaded)
        case .notFound: return .success(nil)
        case .storeUnavailable: return .failure(SessionError(.storeUnavailable, "no session store node is reachable"))
        }
    }

    // MARK: Sticky

    /// The local copy when it is current, else the store's. A cookie carrying another server's
    /// route means that server served the session last, so the local copy may be stale.
    private func openSticky(_ id: SessionID) async throws(SessionError) -> Session? {
        let now = manager.now()
        let localCopy = manager.local.session(id.random, retain: false)
        if let localCopy, localCopy.isValid, manager.configuration.route == nil || id.route == manager.configuration.route {
            if manager.isExpiredLocally(localCopy, now: now) {
                await manager.expire(localCopy.id)
                return nil
            }
            localCopy.withState { $0.lastAccessedTime = now }
            return localCopy
        }
        let manager = self.manager
        let logger = self.logger
        let result = await manager.local.loadShared(id.random, retain: false) {
            await Self.load(id, manager: manager, logger: logger)
        }
        switch result {
        case .success(let loaded?):
            manager.takeOver(loaded)
            return loaded
        case .success(nil):
            if localCopy != nil { manager.local.remove(id.random) }
            return nil
        case .failure(let error):
            // Every node is down: the local copy, even if another server served it since, beats none.
            guard let localCopy else {
                // Never a fresh session over the user's: that would orphan theirs once the store is back.
                throw error
            }
            localCopy.withState { $0.lastAccessedTime = now }
            return localCopy
        }
    }

    // MARK: Non-sticky

    /// Loads the session for this request. A locking request holds the session alone (see
    /// ``openLocked(_:)``); any other shares it with the concurrent requests of this process
    /// (msm #237).
    private func openNonSticky(_ id: SessionID) async throws(SessionError) -> Session? {
        if locks, case .opened(let session) = try await openLocked(id) {
            return session
        }
        if let shared = manager.local.session(id.random, retain: true) {
            retained = true
            let now = manager.now()
            shared.withState { $0.lastAccessedTime = now }
            return shared
        }
        let manager = self.manager
        let logger = self.logger
        let result = await manager.local.loadShared(id.random, retain: true) {
            await Self.load(id, manager: manager, logger: logger)
        }
        let session = try result.get()
        if let session {
            retained = true
            manager.takeOver(session)
        }
        return session
    }

    private enum LockedOpen {
        case opened(Session?)
        /// No turn in time and the policy says go on without it: open as an unlocked request.
        case proceedUnlocked
    }

    /// The request's turn among this process's requests for the session, then the store lock
    /// against other app servers, then the load; all within the lock timeout. A turn handed on
    /// by the previous holder comes with the lock and the session it just stored.
    private func openLocked(_ id: SessionID) async throws(SessionError) -> LockedOpen {
        let configuration = manager.configuration
        let deadline = ContinuousClock.now + configuration.lockTimeout
        switch await manager.turns.take(id.random, timeout: configuration.lockTimeout) {
        case .timedOut:
            manager.metrics.lockFailures.increment()
            guard configuration.lockFailurePolicy == .proceedWithoutLock else {
                throw .lockedByAnotherRequest
            }
            logger.warning("session lock not acquired in time; proceeding without it", metadata: ["session": "\(id)"])
            return .proceedUnlocked
        case .granted(let handoff?):
            turn = HeldTurn(random: id.random, lock: handoff.lock, lockedAt: handoff.lockedAt, holders: handoff.holders)
            let now = manager.now()
            handoff.session.withState { $0.lastAccessedTime = now }
            manager.takeOver(handoff.session)
            return .opened(handoff.session)
        case .granted(nil):
            turn = HeldTurn(random: id.random, lock: nil, lockedAt: ContinuousClock.now, holders: 1)
        }
        if let node = manager.nodes.index(of: id.nodeID), await manager.nodes.isAvailable(node) {
            switch await manager.locking.acquire(key: manager.lockKey(id.random), node: node, on: manager.nodes, deadline: deadline, logger: logger) {
            case .acquired(let lock):
                turn?.lock = lock
                turn?.lockedAt = ContinuousClock.now
            case .nodeUnavailable:
                break  // locking is moot: the load fails over
            case .timedOut:
                if configuration.lockFailurePolicy == .fail {
                    await endTurn()
                    throw .lockedByAnotherRequest
                }
            }
        }
        switch await Self.load(id, manager: manager, logger: logger) {
        case .success(let session?):
            manager.takeOver(session)
            return .opened(session)
        case .success(nil):
            await endTurn()
            return .opened(nil)
        case .failure(let error):
            await endTurn()
            throw error
        }
    }

    private func hold(_ created: Session) {
        let random = created.id.random
        if manager.configuration.sticky {
            manager.local.insert(created, random: random, retain: false)
        } else {
            manager.local.insert(created, random: random, retain: true)
            retained = true
        }
    }
}

extension SessionError {
    /// The lock timeout ran out, waiting for this process's turn or for the store lock.
    fileprivate static var lockedByAnotherRequest: SessionError {
        SessionError(.lockTimeout, "the session is locked by a concurrent request; retry shortly")
    }
}

/// Callers of one request that ask for the same thing at once (two child tasks opening the
/// session) share the first caller's result instead of repeating the work; no task is created
/// for the usual single caller. Used only inside the `SessionRequest` actor.
struct SingleFlight<Success: Sendable> {
    private(set) var isRunning = false
    private var waiters: [CheckedContinuation<Result<Success, SessionError>, Never>] = []

    mutating func start() { isRunning = true }

    mutating func wait(_ waiter: CheckedContinuation<Result<Success, SessionError>, Never>) {
        waiters.append(waiter)
    }

    mutating func finish(_ result: Result<Success, SessionError>) {
        isRunning = false
        let waiting = waiters
        waiters = []
        for waiter in waiting { waiter.resume(returning: result) }
    }
}
