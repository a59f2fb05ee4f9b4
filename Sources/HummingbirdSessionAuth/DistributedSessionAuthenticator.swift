import Hummingbird
import HummingbirdAuth
import HummingbirdSessionManager
import SessionManager

/// hummingbird-auth's session authenticator for distributed sessions: reads the user id that
/// `context.sessions.logIn(userID:)` recorded, loads the user from `users`, and puts it in
/// `context.identity`, where hummingbird-auth's `IsAuthenticatedMiddleware` and
/// `requireIdentity()` find it.
///
/// Install it after `DistributedSessionMiddleware`. It reads the session of every request it
/// sees (a store read in non-sticky mode, the session's lock with `lockingMode all`), so put it
/// on the routes that need a user rather than in front of static files.
///
/// ```swift
/// router.add(middleware: DistributedSessionMiddleware(manager: manager))
/// router.add(middleware: DistributedSessionAuthenticator(context: AppContext.self) { (id: String, _) in
///     await users.find(id)
/// })
/// ```
public struct DistributedSessionAuthenticator<
    Context: AuthRequestContext & DistributedSessionRequestContext,
    Repository: UserSessionRepository
>: AuthenticatorMiddleware where Repository.User == Context.Identity, Repository.Identifier: Sendable {
    /// The user type put in `context.identity`.
    public typealias Identity = Context.Identity

    /// Where users are found by the id recorded at login.
    public let users: Repository

    /// An authenticator over a hummingbird-auth user repository whose `Identifier` is the type
    /// passed to `logIn(userID:)`.
    public init(users: Repository, context: Context.Type = Context.self) {
        self.users = users
    }

    /// An authenticator over a closure that finds a user by the id recorded at login.
    public init<UserID: Codable & Sendable>(
        context: Context.Type = Context.self,
        getUser: @escaping @Sendable (UserID, UserRepositoryContext) async throws -> Context.Identity?
    ) where Repository == UserSessionClosureRepository<UserID, Context.Identity> {
        self.users = UserSessionClosureRepository(getUser)
    }

    /// The logged-in user, or `nil` (no session, nobody logged in, an id that no longer decodes,
    /// or the user is gone). A store or lock failure is thrown as `SessionHTTPError` (503).
    public func authenticate(request: Request, context: Context) async throws -> Identity? {
        guard let userID = try await context.sessions.userID(as: Repository.Identifier.self) else { return nil }
        return try await users.getUser(from: userID, context: UserRepositoryContext(logger: context.logger))
    }
}
