import HTTPTypes
import Hummingbird
import SessionManager

/// Runs msm's request lifecycle around every request: the session is loaded lazily through
/// ``SessionContext``, stored before the response leaves (msm #263: a redirect must not read
/// stale data), and `Set-Cookie` is sent only when the id is new or changed, or the session ended.
///
/// ```swift
/// let router = Router(context: BasicSessionRequestContext.self)
/// router.add(middleware: SessionMiddleware(manager: manager))
/// router.get("/visits") { _, context in
///     let session = try await context.sessions.session()
///     let visits = (try session?.attribute("visits", as: Int.self) ?? 0) + 1
///     try session?.setAttribute("visits", visits)
///     return "\(visits)"
/// }
/// ```
public struct SessionMiddleware<Context: SessionRequestContext>: RouterMiddleware {
    /// The session manager.
    public let manager: SessionManager

    /// Creates the middleware.
    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let cookie = request.cookies[manager.configuration.cookie.name]?.value
        guard let sessionRequest = manager.beginRequest(cookie: cookie, method: request.method.rawValue, path: request.uri.path) else {
            return try await next(request, context)  // requestURIIgnorePattern: no session work at all
        }
        var context = context
        context.sessions = SessionContext(request: sessionRequest)

        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Error responses keep the session's changes and cookie too.
            response = try error.response(from: request, context: context)
        } catch {
            _ = try? await sessionRequest.finish()
            throw error
        }

        let action: SessionCookieAction
        do {
            action = try await sessionRequest.finish()
        } catch {
            return try SessionHTTPError(error).response(from: request, context: context)
        }
        if let setCookie = manager.setCookieHeader(for: action) {
            response.headers.append(HTTPField(name: .setCookie, value: setCookie))
        }
        return response
    }
}
