import HTTPTypes
import Hummingbird
import SessionManager

/// Runs msm's request lifecycle around every request: the session is loaded lazily through
/// ``DistributedSessionContext``, stored before the response leaves (msm #263: a redirect must not read
/// stale data), and `Set-Cookie` is sent only when the id is new or changed, or the session ended.
///
/// ```swift
/// let router = Router(context: BasicDistributedSessionRequestContext.self)
/// router.add(middleware: DistributedSessionMiddleware(manager: manager))
/// router.get("/visits") { _, context in
///     let session = try await context.sessions.session()
///     let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
///     try session.setAttribute("visits", visits)
///     return "\(visits)"
/// }
/// ```
public struct DistributedSessionMiddleware<Context: DistributedSessionRequestContext>: RouterMiddleware {
    /// The session manager.
    public let manager: SessionManager

    /// Creates the middleware.
    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let cookie = SessionCookieReader.value(named: manager.configuration.cookie.name, in: request.headers[values: .cookie])
        guard
            let sessionRequest = manager.beginRequest(cookie: cookie, method: request.method.rawValue, path: request.uri.path, logger: context.logger)
        else {
            return try await next(request, context)  // requestURIIgnorePattern: no session work at all
        }
        var context = context
        context.sessions = DistributedSessionContext(request: sessionRequest)

        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            if sessionRequest.finishIfUnused() { throw error }
            // The session's changes are stored either way. The error itself travels on unchanged
            // (FileMiddleware and others act on a thrown not-found), unless a cookie must go out
            // with it: then it becomes its response here, carrying the Set-Cookie.
            let action: SessionCookieAction
            do {
                action = try await sessionRequest.finish()
            } catch let sessionError {
                return try SessionHTTPError(sessionError).response(from: request, context: context)
            }
            guard let setCookie = manager.setCookieHeader(for: action) else { throw error }
            // The cookie must reach the browser (a new or rotated id): answer here, with it.
            var errorResponse: Response
            if let httpError = error as? any HTTPResponseError {
                errorResponse = try httpError.response(from: request, context: context)
            } else {
                context.logger.error("request failed", metadata: ["error": "\(error)"])
                errorResponse = Response(status: .internalServerError)
            }
            errorResponse.headers.append(HTTPField(name: .setCookie, value: setCookie))
            return errorResponse
        }

        if sessionRequest.finishIfUnused() { return response }  // no session asked for: no actor hop
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
