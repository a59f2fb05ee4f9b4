import SessionManager
import Vapor

/// msm's request lifecycle around every Vapor request: the session is loaded lazily through
/// `req.distributedSession`, stored before the response leaves (msm #263: a redirect must not
/// read stale data), and `Set-Cookie` is sent only when the id is new or changed, or the session
/// ended. Unlike Vapor's `SessionsMiddleware`, a request that carries a cookie but never touches
/// its session costs no store read, and an unchanged session costs no write and no cookie.
///
/// Install it with `app.distributedSessions.use(manager)`, which also shuts the manager down
/// with the application.
public struct DistributedSessionsMiddleware: AsyncMiddleware {
    /// The session manager.
    public let manager: SessionManager

    /// Creates the middleware.
    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
        let cookie = SessionCookieReader.value(named: manager.configuration.cookie.name, in: request.headers[.cookie])
        guard
            let sessionRequest = manager.beginRequest(cookie: cookie, method: request.method.rawValue, path: request.url.path, logger: request.logger)
        else {
            return try await next.respond(to: request)  // requestURIIgnorePattern: no session work at all
        }
        request.storage[DistributedSessionRequestKey.self] = sessionRequest

        let response: Response
        do {
            response = try await next.respond(to: request)
        } catch {
            // The session's changes are stored either way. The error travels on to Vapor's
            // ErrorMiddleware unchanged, unless a cookie must go out with it: then it becomes its
            // response here, carrying the Set-Cookie.
            let action: SessionCookieAction
            do {
                action = try await sessionRequest.finish()
            } catch let sessionError {
                throw DistributedSessionError(sessionError)
            }
            guard let setCookie = manager.setCookieHeader(for: action) else { throw error }
            let errorResponse = Self.response(for: error, request: request)
            errorResponse.headers.add(name: .setCookie, value: setCookie)
            return errorResponse
        }

        let action: SessionCookieAction
        do {
            action = try await sessionRequest.finish()
        } catch {
            throw DistributedSessionError(error)
        }
        if let setCookie = manager.setCookieHeader(for: action) {
            response.headers.add(name: .setCookie, value: setCookie)
        }
        return response
    }

    /// An error as Vapor's `ErrorMiddleware` would answer it: the abort's status, headers and
    /// reason; anything else a 500 that says nothing about the server.
    static func response(for error: any Error, request: Request) -> Response {
        guard let abort = error as? any AbortError else {
            request.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))"])
            return Response(status: .internalServerError, body: .init(string: "Internal Server Error"))
        }
        return Response(status: abort.status, headers: abort.headers, body: .init(string: abort.reason))
    }
}

/// Where the middleware leaves the request's session work for `req.distributedSession`.
struct DistributedSessionRequestKey: StorageKey {
    typealias Value = SessionRequest
}
