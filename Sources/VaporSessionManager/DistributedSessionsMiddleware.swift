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
///
/// It is a plain (future-based) `Middleware`, not an `AsyncMiddleware`: Vapor runs an async
/// middleware in a task of its own and hops back to the event loop, for every request. Here a
/// request that never asks for its session costs no task at all, and one that does costs one,
/// after the handler, to store it.
public struct DistributedSessionsMiddleware: Middleware {
    /// The session manager.
    public let manager: SessionManager

    /// Creates the middleware.
    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func respond(to request: Request, chainingTo next: any Responder) -> EventLoopFuture<Response> {
        let cookie = SessionCookieReader.value(named: manager.configuration.cookie.name, in: request.headers[.cookie])
        guard
            let sessionRequest = manager.beginRequest(
                cookie: cookie, method: request.method.rawValue, path: request.url.path, logger: request.logger)
        else {
            return next.respond(to: request)  // requestURIIgnorePattern: no session work at all
        }
        request.storage[DistributedSessionRequestKey.self] = sessionRequest
        let manager = self.manager
        let promise = request.eventLoop.makePromise(of: Response.self)
        next.respond(to: request).whenComplete { outcome in
            if sessionRequest.finishIfUnused() {  // no session asked for: answer on the event loop
                promise.completeWith(outcome)
                return
            }
            promise.completeWithTask {
                try await Self.finish(sessionRequest, after: outcome, request: request, manager: manager)
            }
        }
        return promise.futureResult
    }

    /// Stores the session's changes (whether the handler succeeded or threw) and adds the cookie.
    private static func finish(
        _ sessionRequest: SessionRequest, after outcome: Result<Response, any Error>, request: Request, manager: SessionManager
    ) async throws -> Response {
        let action: SessionCookieAction
        do {
            action = try await sessionRequest.finish()
        } catch {
            throw DistributedSessionError(error)
        }
        switch outcome {
        case .success(let response):
            if let setCookie = manager.setCookieHeader(for: action) {
                response.headers.add(name: .setCookie, value: setCookie)
            }
            return response
        case .failure(let error):
            // The error travels on to Vapor's ErrorMiddleware unchanged, unless a cookie must go
            // out with it: then it becomes its response here, carrying the Set-Cookie.
            guard let setCookie = manager.setCookieHeader(for: action) else { throw error }
            let errorResponse = Self.response(for: error, request: request)
            errorResponse.headers.add(name: .setCookie, value: setCookie)
            return errorResponse
        }
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
