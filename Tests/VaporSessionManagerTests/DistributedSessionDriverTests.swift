import SessionManager
import SessionManagerTesting
import Testing
import Vapor
import VaporSessionManager
import VaporTesting

/// Vapor's own `req.session` on the distributed store: drop-in for existing apps.
@Suite struct DistributedSessionDriverTests {
    /// Two memory nodes whose operations the tests count and fail.
    struct Nodes {
        let m1 = FaultInjectingSessionStore(MemorySessionStore())
        let m2 = FaultInjectingSessionStore(MemorySessionStore())
        var topology: SessionStoreTopology {
            SessionStoreTopology(nodes: [.init(id: "m1", isFailover: false, store: m1), .init(id: "m2", isFailover: false, store: m2)])
        }
        var sets: Int { m1.counts.sets + m2.counts.sets }
        func node(named id: String) -> FaultInjectingSessionStore { id == "m1" ? m1 : m2 }
    }

    func withDriverApp(sticky: Bool = false, _ test: (Application, Nodes, SessionManager) async throws -> Void) async throws {
        let nodes = Nodes()
        var configuration = SessionManagerConfiguration()
        configuration.sticky = sticky
        let manager = try SessionManager(configuration: configuration, store: nodes.topology)
        try await withApp { app in
            app.sessions.use(.distributed(manager))
            let sessions = app.grouped(app.sessions.middleware)
            sessions.get("user") { req -> String in req.session.data["user"] ?? "-" }
            sessions.post("user", ":name") { req -> String in
                req.session.data["user"] = req.parameters.get("name")
                return "ok"
            }
            sessions.post("logout") { req -> String in
                req.session.destroy()
                return "bye"
            }
            try await test(app, nodes, manager)
        }
    }

    private func sessionCookie(of response: TestingHTTPResponse) throws -> (pair: String, header: String) {
        let header = try #require(response.headers[.setCookie].first)
        return (String(header.prefix { $0 != ";" }), header)
    }

    @Test func sessionDataLivesInTheStoreUnderAnMsmID() async throws {
        try await withDriverApp { app, nodes, _ in
            let set = try await app.testing().sendRequest(.POST, "user/alice")
            let (cookie, header) = try sessionCookie(of: set)
            #expect(header.wholeMatch(of: #/SESSIONID=[0-9A-F]{32}-m[12]; Path=/; HttpOnly; SameSite=Lax/#) != nil, "\(header)")
            #expect(nodes.sets == 2, "primary and backup copies")
            let read = try await app.testing().sendRequest(.GET, "user", headers: ["Cookie": cookie])
            #expect(read.body.string == "alice")
        }
    }

    @Test func anUnchangedSessionIsNotWrittenAgain() async throws {
        try await withDriverApp { app, nodes, _ in
            let set = try await app.testing().sendRequest(.POST, "user/alice")
            let cookie = try sessionCookie(of: set).pair
            let before = nodes.sets
            for _ in 0..<3 {
                let read = try await app.testing().sendRequest(.GET, "user", headers: ["Cookie": cookie])
                #expect(read.body.string == "alice")
            }
            #expect(nodes.sets == before, "reads that change nothing write nothing")
            _ = try await app.testing().sendRequest(.POST, "user/bob", headers: ["Cookie": cookie])
            #expect(nodes.sets == before + 2)
        }
    }

    @Test func whenItsNodeDiesTheSessionMovesAndTheCookieFollows() async throws {
        try await withDriverApp { app, nodes, _ in
            let set = try await app.testing().sendRequest(.POST, "user/alice")
            let cookie = try sessionCookie(of: set).pair
            let node = String(try #require(cookie.split(separator: "-").last))
            nodes.node(named: node).fault = .down

            let moved = try await app.testing().sendRequest(.POST, "user/bob", headers: ["Cookie": cookie])
            #expect(moved.status == .ok)
            let newCookie = try sessionCookie(of: moved).pair
            #expect(newCookie != cookie && !newCookie.hasSuffix("-\(node)"), "the id names the node now holding it: \(newCookie)")
            #expect(newCookie.dropLast(3) == cookie.dropLast(3), "same session, new node")
            let read = try await app.testing().sendRequest(.GET, "user", headers: ["Cookie": newCookie])
            #expect(read.body.string == "bob")
        }
    }

    @Test func destroyRemovesEveryCopyAndExpiresTheCookie() async throws {
        try await withDriverApp { app, _, _ in
            let cookie = try sessionCookie(of: try await app.testing().sendRequest(.POST, "user/alice")).pair
            let logout = try await app.testing().sendRequest(.POST, "logout", headers: ["Cookie": cookie])
            let expired = try #require(logout.headers[.setCookie].first)
            #expect(expired.hasPrefix("SESSIONID=;") && expired.contains("1970"), "Vapor's middleware expires the cookie: \(expired)")
            let read = try await app.testing().sendRequest(.GET, "user", headers: ["Cookie": cookie])
            #expect(read.body.string == "-")
        }
    }

    @Test func aForgedCookieIsNoSession() async throws {
        try await withDriverApp { app, _, _ in
            let read = try await app.testing().sendRequest(.GET, "user", headers: ["Cookie": "SESSIONID=0123456789ABCDEF0123456789ABCDEF-m9"])
            #expect(read.status == .ok)
            #expect(read.body.string == "-")
        }
    }

    @Test func theDriverAndTheMiddlewareShareOneSession() async throws {
        try await withDriverApp { driverApp, _, manager in
            let cookie = try sessionCookie(of: try await driverApp.testing().sendRequest(.POST, "user/alice")).pair
            try await withApp { middlewareApp in
                middlewareApp.middleware.use(DistributedSessionsMiddleware(manager: manager))
                middlewareApp.get("user") { req async throws -> String in
                    try await req.distributedSession.existingSession()?.attribute("user", as: String.self) ?? "-"
                }
                let read = try await middlewareApp.testing().sendRequest(.GET, "user", headers: ["Cookie": cookie])
                #expect(read.body.string == "alice")
            }
        }
    }
}
