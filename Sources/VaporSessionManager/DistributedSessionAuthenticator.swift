import SessionManager
import Vapor

/// Vapor authentication on the middleware path: reads the user id that
/// `req.distributedSession.logIn(userID:)` recorded, finds the user, and logs it in with
/// `req.auth.login(_:)`, so `req.auth.require(User.self)` and Vapor's `GuardMiddleware` work.
///
/// Install it after ``DistributedSessionsMiddleware``, on the routes that need a user: it reads
/// the session of every request it sees. (On the `SessionDriver` path Vapor's own
/// `SessionAuthenticator`s work unchanged: they keep the user in `req.session.data`.)
///
/// ```swift
/// let account = app.grouped(DistributedSessionAuthenticator(String.self) { id, _ in users[id] }, User.guardMiddleware())
/// ```
public struct DistributedSessionAuthenticator<User: Authenticatable, UserID: Decodable & Sendable>: AsyncMiddleware {
    /// Finds the user by the id recorded at login; `nil` when there is no such user any more.
    public let findUser: @Sendable (UserID, Request) async throws -> User?

    /// An authenticator whose users are found by `findUser`.
    public init(_ userID: UserID.Type = UserID.self, findUser: @escaping @Sendable (UserID, Request) async throws -> User?) {
        self.findUser = findUser
    }

    /// Logs the session's user in, if any (an id that no longer decodes as `UserID` is nobody),
    /// then runs the route. A store or lock failure is thrown (503).
    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        if !request.auth.has(User.self), let userID = try await request.distributedSession.userID(as: UserID.self),
            let user = try await findUser(userID, request)
        {
            request.auth.login(user)
        }
        return try await next.respond(to: request)
    }
}
