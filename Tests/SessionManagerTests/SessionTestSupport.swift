import Logging
import NIOCore
import ServerTestSupport
import SessionManagerTestSupport
import Synchronization
import Testing

@testable import SessionManager

/// Real memcached or redis-server nodes plus app servers (`makeServer`, in
/// SessionManagerTestSupport): session scenarios take the backend as a test argument.
typealias SessionTestCluster = StoreTestCluster

/// A browser: keeps the cookie the server last set.
struct Browser {
    var cookie: String?

    /// One request through `server`, the way an adapter drives it; `body` is the handler.
    @discardableResult
    mutating func request(
        _ server: SessionManager,
        method: String = "GET",
        path: String = "/myapp/",
        touchSession: Bool = true,
        _ body: (Session) throws -> Void = { _ in }
    ) async throws -> (session: Session?, action: SessionCookieAction) {
        guard let request = server.beginRequest(cookie: cookie, method: method, path: path) else { return (nil, .none) }
        var session: Session?
        if touchSession {
            let opened = try await request.session()
            try body(opened)
            session = opened
        }
        let action = try await request.finish()
        switch action {
        case .none: break
        case .set(let id): cookie = id.description
        case .expire: cookie = nil
        }
        return (session, action)
    }

    /// `GET /myapp/`: increments `visits`, returns the new count.
    mutating func visit(_ server: SessionManager) async throws -> (visits: Int, action: SessionCookieAction, id: SessionID) {
        var visits = 0
        let (session, action) = try await request(server) { session in
            visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
            try session.setAttribute("visits", visits)
        }
        return (visits, action, try #require(session).id)
    }

    var id: SessionID? { cookie.flatMap(SessionID.init(parsing:)) }
}

/// Retries until `body` returns true, for at most `limit`: recovery is asynchronous.
func eventually(
    within limit: Duration = .seconds(10), every interval: Duration = .milliseconds(100), _ body: () async throws -> Bool
) async throws -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if try await body() { return true }
        try await Task.sleep(for: interval)
    }
    return false
}

/// A session that was never stored, for tests of the in-memory machinery.
func makeSession() -> Session {
    Session(
        state: Session.State(
            id: SessionID.generate(nodeID: nil, route: nil), creationTime: 0, lastAccessedTime: 0,
            maxInactiveInterval: 0, attributes: [:], storedAttributes: nil, storedAccessTime: 0
        ),
        coder: JSONSessionAttributeCoder()
    )
}
