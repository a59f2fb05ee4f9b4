import SessionManager
import Vapor

extension Request {
    /// The request's distributed session, loaded (and, non-sticky with locking, locked) only when
    /// a handler first asks for it. Needs ``DistributedSessionsMiddleware`` in front of the route.
    public var distributedSession: DistributedSessionAccess {
        DistributedSessionAccess(request: storage[DistributedSessionRequestKey.self])
    }
}

/// A handler's access to its request's session: `req.distributedSession`.
///
/// The same calls as Hummingbird's `context.sessions`, so an app moving between the two
/// frameworks keeps its session code.
public struct DistributedSessionAccess: Sendable {
    let request: SessionRequest?

    /// The request's session, created when it has none (stored, and its cookie sent, when the
    /// response leaves).
    /// - Throws: ``DistributedSessionError`` (503 when the store or the session lock is
    ///   unavailable), or when ``DistributedSessionsMiddleware`` is not installed for this route
    ///   or the path is ignored.
    public func session() async throws(DistributedSessionError) -> DistributedSession {
        try await onRequest { request throws(SessionError) in try await request.session() }
    }

    /// The request's session if it has one; never creates one, so a page that only reads stores
    /// nothing and sends no cookie.
    /// - Throws: as ``session()``.
    public func existingSession() async throws(DistributedSessionError) -> DistributedSession? {
        try await onRequest { request throws(SessionError) in try await request.existingSession() }
    }

    /// The whole-session value (`Session.value(as:)`) if the request has a session; never creates one.
    /// - Throws: as ``session()``; a 500 when the stored value is not a `Value`.
    public func value<Value: Decodable>(as type: Value.Type = Value.self) async throws(DistributedSessionError) -> Value? {
        try await onRequest { request throws(SessionError) in try await request.existingSession()?.value(as: type) }
    }

    /// Replaces the whole-session value, creating the session if there is none.
    /// - Throws: as ``session()``.
    public func setValue<Value: Encodable>(_ value: Value) async throws(DistributedSessionError) {
        try await onRequest { request throws(SessionError) in try await request.session().setValue(value) }
    }

    /// Logs a user in: a new session id (against session fixation; the old id dies everywhere)
    /// carrying `userID`, which ``userID(as:)`` reads.
    /// - Throws: as ``session()``.
    public func logIn<UserID: Encodable & Sendable>(userID: UserID) async throws(DistributedSessionError) {
        try await onRequest { request throws(SessionError) in _ = try await request.logIn(userID: userID) }
    }

    /// Logs out: ends the session (every copy removed, the cookie expired), if there is one.
    /// - Throws: as ``session()``.
    public func logOut() async throws(DistributedSessionError) {
        try await onRequest { request throws(SessionError) in try await request.logOut() }
    }

    /// The logged-in user's id, if the request's session has one (an id recorded as another type
    /// counts as none); never creates a session.
    /// - Throws: as ``session()``.
    public func userID<ID: Decodable & Sendable>(as type: ID.Type = ID.self) async throws(DistributedSessionError) -> ID? {
        try await onRequest { request throws(SessionError) in try await request.userID(as: type) }
    }

    /// Ends the request's session, if it has one: every copy is removed when the request
    /// finishes and the cookie is expired.
    /// - Throws: as ``session()``.
    public func invalidate() async throws(DistributedSessionError) {
        try await existingSession()?.invalidate()
    }

    /// Gives the session a new id, keeping its attributes, and kills the old id everywhere.
    /// - Throws: as ``session()``.
    @discardableResult
    public func changeSessionID() async throws(DistributedSessionError) -> DistributedSessionID {
        try await onRequest { request throws(SessionError) in try await request.changeSessionID() }
    }

    /// Stores the session now instead of when the response is about to leave.
    /// - Throws: as ``session()``.
    public func persist() async throws(DistributedSessionError) {
        try await onRequest { request throws(SessionError) in try await request.persist() }
    }

    private func onRequest<Result>(_ body: (SessionRequest) async throws(SessionError) -> Result) async throws(DistributedSessionError) -> Result {
        guard let request else { throw DistributedSessionError.notInstalled }
        do {
            return try await body(request)
        } catch {
            throw DistributedSessionError(error)
        }
    }
}
