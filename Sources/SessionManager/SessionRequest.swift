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

    private var session: Session?
    private var resolved = false
    /// Whether this request counts as a user of its session in `LocalSessions` (non-sticky); it
    /// is released under the session's id at finish, whatever that id has become meanwhile.
    private var retained = false
    private var finished = false
    /// ``persist()`` already stored a change: `auto` locking must still learn "modifying".
    private var persistedAChange = false

    init(manager: SessionManager, cookie: String?, requestedID: SessionID?, method: String, path: String) {
        self.manager = manager
        self.cookie = cookie
        self.requestedID = requestedID
        self.method = method
        self.path = path
    }

    /// The id the request's cookie named, if it is one this manager could have issued.
    public nonisolated var requestedSessionID: SessionID? { requestedID }

    /// The request's session: the one its cookie names if that still exists, else a new one when
    /// `create` is true (a client-chosen id is never adopted).
    /// - Throws: ``SessionError/Code/lockTimeout`` or ``SessionError/Code/storeUnavailable`` (non-sticky).
    public func session(create: Bool = true) async throws(SessionError) -> Session? {
        if !resolved {
            // Single flight: concurrent callers of one request share one open (one load, one lock,
            // one user count), whatever interleaving the actor's suspension allows.
            let task = opening ?? Task { await self.openRequestedSession() }
            opening = task
            let result = await task.value
            if opening == task { opening = nil }
            // A failed open (lock timeout, store down) is retried by the next call, never
            // mistaken for "no session" (which would replace the user's session).
            let opened = try result.get()
            if !resolved {
                session = opened
                resolved = true
            }
        }
        if session == nil, create {
            let task = creating ?? Task { await self.createAndHold() }
            creating = task
            let created = try await task.value.get()
            if session == nil { session = created }
        }
        return session
    }

    private var opening: Task<Result<Session?, SessionError>, Never>?
    private var creating: Task<Result<Session, SessionError>, Never>?

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
            hold(created)
            return .success(created)
        } catch {
            return .failure(error)
        }
    }

    /// Gives the session a new id, keeping its attributes; every copy under the old id is removed
    /// (session fixation protection at login). Creates the session if there is none.
    @discardableResult
    public func changeSessionID() async throws(SessionError) -> SessionID {
        guard let session = try await session(create: true) else {
            throw SessionError(.invalidated, "no session")
        }
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

    /// Stores the session now rather than at ``finish()``: for a handler that must show where the
    /// session lives (after a failover its id names a new node only once it is stored there), or
    /// that wants the write done before it calls another service. ``finish()`` still runs.
    public func persist() async throws(SessionError) {
        guard let session, !finished else { return }
        if case .stored(true) = try await manager.store(session) { persistedAChange = true }
    }

    /// Stores the session if it changed (or deletes it if invalidated), releases its lock, and
    /// says what to do with the cookie. Call it before the response leaves (msm #263), unless
    /// `sessionBackupAsync` is configured, in which case the write runs after this returns.
    public func finish() async throws(SessionError) -> SessionCookieAction {
        guard !finished else { return .none }
        finished = true
        guard let session else {
            manager.metrics.requestsWithoutSession.increment()
            return .none
        }
        manager.metrics.requestsWithSession.increment()
        let (retained, manager) = (self.retained ? session.id.random : nil, self.manager)
        if manager.configuration.sessionBackupAsync, session.isValid {
            await manager.placeBeforeAsyncStore(session)
            manager.pendingWrites.start {
                _ = try? await manager.store(session)
                await Self.release(retained, manager: manager)
            }
            return cookieAction(for: session)
        }
        let outcome: SessionManager.StoreOutcome
        do {
            outcome = try await manager.store(session)
        } catch {
            await Self.release(retained, manager: manager)
            throw error
        }
        // Released only after the write: the next request (and lock holder) sees the new state.
        await Self.release(retained, manager: manager)
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

    private static func release(_ retained: String?, manager: SessionManager) async {
        guard let retained else { return }
        let (_, lock) = manager.local.release(retained, dropWhenUnused: true)
        if let lock { await manager.locking.release(lock, on: manager.nodes) }
    }

    // MARK: Sticky

    /// The local copy when it is current, else the store's. A cookie carrying another server's
    /// route means that server served the session last, so the local copy may be stale.
    private func openSticky(_ id: SessionID) async throws(SessionError) -> Session? {
        let now = currentTimeMilliseconds()
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
        let result = await manager.local.loadShared(id.random, retain: false) {
            switch await manager.loadFromStore(id) {
            case .found(let loaded): return (.success(loaded), nil)
            case .notFound: return (.success(nil), nil)
            case .storeUnavailable: return (.failure(SessionError(.storeUnavailable, "no session store node is reachable")), nil)
            }
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

    /// Loads the session for this request, sharing it with concurrent requests of this process
    /// (and their lock), locking first when the locking mode says so.
    private func openNonSticky(_ id: SessionID) async throws(SessionError) -> Session? {
        if let shared = manager.local.session(id.random, retain: true) {
            retained = true
            shared.withState { $0.lastAccessedTime = currentTimeMilliseconds() }
            return shared
        }
        let manager = self.manager
        let shouldLock = manager.shouldLock(method: method, path: path)
        let result = await manager.local.loadShared(id.random, retain: true) {
            await Self.lockAndLoad(id, shouldLock: shouldLock, manager: manager)
        }
        let session = try result.get()
        if let session {
            retained = true
            manager.takeOver(session)
        }
        return session
    }

    private static func lockAndLoad(_ id: SessionID, shouldLock: Bool, manager: SessionManager) async -> (LocalSessions.LoadResult, SessionLock?) {
        var lock: SessionLock?
        if shouldLock, let node = manager.nodes.index(of: id.nodeID), await manager.nodes.isAvailable(node) {
            switch await manager.locking.acquire(key: manager.lockKey(id.random), node: node, on: manager.nodes) {
            case .acquired(let acquired):
                lock = acquired
            case .nodeUnavailable:
                break
            case .timedOut:
                if manager.configuration.lockFailurePolicy == .fail {
                    return (.failure(SessionError(.lockTimeout, "the session is locked by a concurrent request; retry shortly")), nil)
                }
            }
        }
        switch await manager.loadFromStore(id) {
        case .found(let loaded):
            return (.success(loaded), lock)
        case .notFound:
            if let lock { await manager.locking.release(lock, on: manager.nodes) }
            return (.success(nil), nil)
        case .storeUnavailable:
            if let lock { await manager.locking.release(lock, on: manager.nodes) }
            return (.failure(SessionError(.storeUnavailable, "no session store node is reachable")), nil)
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
