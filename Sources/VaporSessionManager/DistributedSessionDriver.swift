import SessionManager
import Vapor

/// A Vapor `SessionDriver` over a `SessionManager`: existing code that uses
/// `req.session.data["key"]` keeps working, with msm's node ids in the session id, a backup
/// copy, failover, and no store write when the data did not change. An update that moves the
/// session to another node returns its new id, so the cookie follows.
///
/// Install it with `app.sessions.use(.distributed(manager))` and `app.middleware.use(app.sessions.middleware)`.
///
/// What Vapor's own `SessionsMiddleware` still costs on this path: a store read for every request
/// that carries the cookie (even one that never looks at its session), and a `Set-Cookie` on
/// every response whose request touched the session. ``DistributedSessionsMiddleware`` avoids
/// both. Each `SessionData` key is a string attribute of the session, so the same session reads
/// the same through `req.distributedSession` (`attribute(key, as: String.self)`); attributes that
/// are not strings are left alone.
public struct DistributedSessionDriver: SessionDriver {
    /// The session manager.
    public let manager: SessionManager

    /// Creates the driver.
    public init(manager: SessionManager) {
        self.manager = manager
    }

    public func createSession(_ data: SessionData, for request: Request) -> EventLoopFuture<Vapor.SessionID> {
        request.eventLoop.makeFutureWithTask { try await self.store(data, for: request, cookie: nil) }
    }

    public func readSession(_ sessionID: Vapor.SessionID, for request: Request) -> EventLoopFuture<SessionData?> {
        request.eventLoop.makeFutureWithTask { try await self.read(sessionID, for: request) }
    }

    public func updateSession(_ sessionID: Vapor.SessionID, to data: SessionData, for request: Request) -> EventLoopFuture<Vapor.SessionID> {
        request.eventLoop.makeFutureWithTask { try await self.store(data, for: request, cookie: sessionID.string) }
    }

    public func deleteSession(_ sessionID: Vapor.SessionID, for request: Request) -> EventLoopFuture<Void> {
        request.eventLoop.makeFutureWithTask {
            let state = self.state(of: request, cookie: sessionID.string)
            do throws(SessionError) {
                try await state.request.existingSession()?.invalidate()
                _ = try await state.request.finish()
            } catch {
                throw DistributedSessionError(error)
            }
        }
    }

    /// The request's session work, begun at the read (or here, when there was none) and finished
    /// by the update, create or delete that follows it.
    private func state(of request: Request, cookie: String?) -> DriverState {
        if let state = request.storage[DriverStateKey.self] { return state }
        let state = DriverState(
            request: manager.beginSessionRequest(cookie: cookie, method: request.method.rawValue, path: request.url.path, logger: request.logger),
            snapshot: [:])
        request.storage[DriverStateKey.self] = state
        return state
    }

    private func read(_ sessionID: Vapor.SessionID, for request: Request) async throws -> SessionData? {
        var state = state(of: request, cookie: sessionID.string)
        let session: DistributedSession?
        do {
            session = try await state.request.existingSession()
        } catch {
            throw DistributedSessionError(error)
        }
        guard let session else { return nil }
        var snapshot: [String: String] = [:]
        for name in session.attributeNames where !name.hasPrefix(DistributedSession.reservedAttributePrefix) {
            if let value = try? session.attribute(name, as: String.self) { snapshot[name] = value }
        }
        state.snapshot = snapshot
        request.storage[DriverStateKey.self] = state
        return SessionData(initialData: snapshot)
    }

    /// Applies what the handler changed in `data` since the read, stores (only if something
    /// changed, or the session is new, moved or due for an expiry refresh) and returns the id
    /// the cookie must carry now.
    private func store(_ data: SessionData, for request: Request, cookie: String?) async throws -> Vapor.SessionID {
        let state = state(of: request, cookie: cookie)
        do {
            let session = try await state.request.session()
            for (name, value) in data.snapshot where state.snapshot[name] != value {
                try session.setAttribute(name, value)
            }
            for name in state.snapshot.keys where data[name] == nil {
                session.removeAttribute(name)
            }
            _ = try await state.request.finish()
            return Vapor.SessionID(string: session.id.description)
        } catch {
            throw DistributedSessionError(error)
        }
    }
}

/// One request's driver state: its session work and the string attributes the read returned.
struct DriverState: Sendable {
    var request: SessionRequest
    var snapshot: [String: String]
}

struct DriverStateKey: StorageKey {
    typealias Value = DriverState
}

extension Application.Sessions.Provider {
    /// Vapor's sessions (`req.session`) kept by `manager`: the ``DistributedSessionDriver``, the
    /// cookie named and shaped as `manager.configuration.cookie` says (no `Expires` date, which
    /// Vapor's default formats on every response), and the manager shut down with the app.
    /// Add `app.sessions.middleware` to the routes that use sessions.
    public static func distributed(_ manager: SessionManager) -> Self {
        .init { application in
            application.sessions.use { _ in DistributedSessionDriver(manager: manager) }
            let cookie = manager.configuration.cookie
            let sameSite: HTTPCookies.SameSitePolicy? = cookie.sameSite.map {
                switch $0 {
                case .strict: .strict
                case .lax: .lax
                case .none: HTTPCookies.SameSitePolicy.none
                }
            }
            application.sessions.configuration = SessionsConfiguration(cookieName: cookie.name) { id in
                HTTPCookies.Value(
                    string: id.string, domain: cookie.domain, path: cookie.path, isSecure: cookie.secure,
                    isHTTPOnly: cookie.httpOnly, sameSite: sameSite)
            }
            application.distributedSessions.manageLifecycle(of: manager)
        }
    }
}
