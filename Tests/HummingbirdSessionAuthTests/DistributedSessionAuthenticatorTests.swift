import Hummingbird
import HummingbirdAuth
import HummingbirdSessionAuth
import HummingbirdSessionManager
import HummingbirdTesting
import SessionManager
import Testing

/// A user as an app keeps it.
struct User: Sendable, Equatable {
    var id: String
    var name: String
}

/// An app's context with both sessions and hummingbird-auth's identity.
struct AuthContext: AuthRequestContext, DistributedSessionRequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: User?
    var sessions = DistributedSessionContext()

    init(source: Source) {
        self.coreContext = .init(source: source)
    }
}

/// Login, the authenticated page, logout, all on the memory store: no server needed.
@Suite struct DistributedSessionAuthenticatorTests {
    static let users = ["u1": User(id: "u1", name: "Alice"), "u2": User(id: "u2", name: "Bob")]

    func makeApp() throws -> some ApplicationProtocol {
        let manager = try SessionManager(
            configuration: SessionManagerConfiguration(), store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"]))
        let router = Router(context: AuthContext.self)
        router.add(middleware: DistributedSessionMiddleware(manager: manager))
        router.post("/login") { request, context -> String in
            let id = request.uri.queryParameters.get("user") ?? ""
            guard Self.users[id] != nil else { throw HTTPError(.unauthorized) }
            try await context.sessions.logIn(userID: id)
            return "welcome"
        }
        router.post("/login-with-number") { _, context -> String in
            try await context.sessions.logIn(userID: 42)  // not the repository's String ids
            return "welcome"
        }
        router.post("/forget") { _, context -> String in
            // The user is deleted while still logged in.
            try await context.sessions.logIn(userID: "gone")
            return "ok"
        }
        let authenticated = router.group("/me")
            .add(middleware: DistributedSessionAuthenticator(context: AuthContext.self) { (id: String, _) in Self.users[id] })
        authenticated.get { _, context -> String in try context.requireIdentity().name }
        router.post("/logout") { _, context -> String in
            try await context.sessions.logOut()
            return "bye"
        }
        return Application(router: router)
    }

    @Test func loginPutsTheUserInTheContextUntilLogout() async throws {
        try await makeApp().test(.router) { client in
            let anonymous = try await client.execute(uri: "/me", method: .get)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[values: .setCookie].isEmpty, "authenticating an anonymous request creates no session")

            let login = try await client.execute(uri: "/login?user=u1", method: .post)
            #expect(login.status == .ok)
            let cookie = try #require(login.headers[.setCookie]?.split(separator: ";").first.map(String.init))

            let me = try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie])
            #expect(me.status == .ok)
            #expect(String(buffer: me.body) == "Alice")

            let logout = try await client.execute(uri: "/logout", method: .post, headers: [.cookie: cookie])
            #expect(logout.headers[.setCookie]?.contains("Max-Age=0") == true)
            let afterLogout = try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie])
            #expect(afterLogout.status == .unauthorized)
        }
    }

    @Test func loginRotatesTheIDSoTheAnonymousCookieStaysAnonymous() async throws {
        try await makeApp().test(.router) { client in
            // An attacker plants a session id, the victim logs in with it.
            let planted = try await client.execute(uri: "/login-with-number", method: .post)
            let plantedCookie = try #require(planted.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            let login = try await client.execute(uri: "/login?user=u2", method: .post, headers: [.cookie: plantedCookie])
            let victimCookie = try #require(login.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            #expect(victimCookie != plantedCookie)

            let attacker = try await client.execute(uri: "/me", method: .get, headers: [.cookie: plantedCookie])
            #expect(attacker.status == .unauthorized)
            let victim = try await client.execute(uri: "/me", method: .get, headers: [.cookie: victimCookie])
            #expect(String(buffer: victim.body) == "Bob")
        }
    }

    @Test func anUnknownUserOrAnUnreadableIDIsNotLoggedInAndNotAnError() async throws {
        try await makeApp().test(.router) { client in
            for route in ["/forget", "/login-with-number"] {
                let login = try await client.execute(uri: route, method: .post)
                let cookie = try #require(login.headers[.setCookie]?.split(separator: ";").first.map(String.init))
                let me = try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie])
                #expect(me.status == .unauthorized, "\(route)")
            }
        }
    }
}
