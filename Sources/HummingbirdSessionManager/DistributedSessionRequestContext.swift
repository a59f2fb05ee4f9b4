import Hummingbird
import SessionManager

/// A request context that carries the request's session, filled in by ``DistributedSessionMiddleware``.
///
/// Adopt it in your own context (add `var sessions = DistributedSessionContext()`), or use
/// ``BasicDistributedSessionRequestContext``.
public protocol DistributedSessionRequestContext: RequestContext {
    /// The request's session access.
    var sessions: DistributedSessionContext { get set }
}

/// A ready-made context with nothing but sessions.
public struct BasicDistributedSessionRequestContext: DistributedSessionRequestContext {
    /// Hummingbird's core context.
    public var coreContext: CoreRequestContextStorage
    /// The request's session access.
    public var sessions: DistributedSessionContext

    /// Creates the context for a request.
    public init(source: Source) {
        self.coreContext = .init(source: source)
        self.sessions = DistributedSessionContext()
    }
}

/// A handler's access to its request's session.
///
/// The session is loaded (and, in non-sticky mode with locking, locked) only when a handler first
/// asks for it, so a request that never touches its session causes no store traffic and no cookie.
public struct DistributedSessionContext: Sendable {
    let request: SessionRequest?

    /// Empty: ``DistributedSessionMiddleware`` replaces it for every request it handles.
    public init() {
        self.request = nil
    }

    init(request: SessionRequest) {
        self.request = request
    }

    /// The request's session, created when it has none (stored and its cookie sent when the
    /// response leaves).
    /// - Throws: ``SessionHTTPError`` (503 when the store or the session lock is unavailable),
    ///   or when ``DistributedSessionMiddleware`` is not installed for this route or the path is ignored.
    public func session() async throws(SessionHTTPError) -> Session {
        try await onRequest { request throws(SessionError) in try await request.session() }
    }

    /// The request's session if it has one; never creates one, so a page that only reads stores
    /// nothing and sends no cookie.
    /// - Throws: as ``session()``.
    public func existingSession() async throws(SessionHTTPError) -> Session? {
        try await onRequest { request throws(SessionError) in try await request.existingSession() }
    }

    /// Ends the request's session, if it has one: every copy is removed when the request
    /// finishes and the cookie is expired (logout).
    /// - Throws: as ``session()``.
    public func invalidate() async throws(SessionHTTPError) {
        try await existingSession()?.invalidate()
    }

    /// The whole-session value (see `Session.value(as:)`) if the request has a
    /// session; never creates one.
    /// - Throws: as ``session()``; a 500 when the stored value is not a `Value`.
    public func value<Value: Decodable>(as type: Value.Type = Value.self) async throws(SessionHTTPError) -> Value? {
        try await onRequest { request throws(SessionError) in try await request.existingSession()?.value(as: type) }
    }

    /// Replaces the whole-session value, creating the session if there is none.
    /// - Throws: as ``session()``.
    public func setValue<Value: Encodable>(_ value: Value) async throws(SessionHTTPError) {
        try await onRequest { request throws(SessionError) in try await request.session().setValue(value) }
    }

    /// Logs a user in: a new session id (against session fixation; the old id dies everywhere)
    /// carrying `userID`, which ``userID(as:)`` and `DistributedSessionAuthenticator` read.
    /// - Throws: as ``session()``.
    public func logIn<UserID: Encodable & Sendable>(userID: UserID) async throws(SessionHTTPError) {
        try await onRequest { request throws(SessionError) in _ = try await request.logIn(userID: userID) }
    }

    /// Logs out: ends the session (every copy removed, the cookie expired), if there is one.
    /// - Throws: as ``session()``.
    public func logOut() async throws(SessionHTTPError) {
        try await onRequest { request throws(SessionError) in try await request.logOut() }
    }

    /// The logged-in user's id, if the request's session has one (an id recorded as another type
    /// counts as none); never creates a session.
    /// - Throws: as ``session()``.
    public func userID<ID: Decodable & Sendable>(as type: ID.Type = ID.self) async throws(SessionHTTPError) -> ID? {
        try await onRequest { request throws(SessionError) in try await request.userID(as: type) }
    }

    /// Gives the session a new id, keeping its attributes, and kills the old id everywhere:
    /// call it at login against session fixation. The new cookie is sent with the response.
    @discardableResult
    public func changeSessionID() async throws(SessionHTTPError) -> SessionID {
        try await onRequest { request throws(SessionError) in try await request.changeSessionID() }
    }

    /// Stores the session now instead of when the response is about to leave; see
    /// `SessionRequest.persist()`. Afterwards `Session.id` is final for this request.
    public func persist() async throws(SessionHTTPError) {
        try await onRequest { request throws(SessionError) in try await request.persist() }
    }

    /// The id the request's cookie named, when it is one this server could have issued.
    public var requestedSessionID: SessionID? { request?.requestedSessionID }

    /// Runs `body` on the middleware's request, its failures as HTTP errors.
    private func onRequest<Result>(_ body: (SessionRequest) async throws(SessionError) -> Result) async throws(SessionHTTPError) -> Result {
        guard let request else { throw SessionHTTPError.notInstalled }
        do {
            return try await body(request)
        } catch {
            throw SessionHTTPError(error)
        }
    }
}
