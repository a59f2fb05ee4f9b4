import SessionManager
import Testing
import Vapor
import VaporSessionManager
import VaporTesting

/// A user of the tests' apps.
struct Customer: SessionAuthenticatable, Sendable {
    var id: String
    var name: String
    var sessionID: String { id }
}

let customers = ["u1": Customer(id: "u1", name: "Alice"), "u2": Customer(id: "u2", name: "Bob")]

/// Vapor's own session authenticator, for the `SessionDriver` path.
struct CustomerSessionAuthenticator: AsyncSessionAuthenticator {
    typealias User = Customer
    func authenticate(sessionID: String, for request: Request) async throws {
        if let customer = customers[sessionID] { request.auth.login(customer) }
    }
}

/// Logging in, being known on later requests, logging out: on both Vapor paths, memory store.
@Suite struct DistributedSessionAuthenticatorTests {
    private func manager() throws -> SessionManager {
        var configuration = SessionManagerConfiguration()
        configuration.sticky = false  // every request reads the store
        return try SessionManager(configuration: configuration, store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"]))
    }

    private func cookie(of response: TestingHTTPResponse) throws -> String {
        String(try #require(response.headers[.setCookie].first).prefix { $0 != ";" })
    }

    @Test func theMiddlewarePathLogsTheRecordedUserIn() async throws {
        let manager = try manager()
        try await withApp { app in
            app.distributedSessions.use(manager)
            app.post("login", ":id") { req async throws -> String in
                let id = req.parameters.get("id") ?? ""
                guard customers[id] != nil else { throw Abort(.unauthorized) }
                try await req.distributedSession.logIn(userID: id)
                return "welcome"
            }
            app.post("login-number") { req async throws -> String in
                try await req.distributedSession.logIn(userID: 42)
                return "welcome"
            }
            app.post("logout") { req async throws -> String in
                try await req.distributedSession.logOut()
                return "bye"
            }
            app.grouped(DistributedSessionAuthenticator(String.self) { id, _ in customers[id] }, Customer.guardMiddleware())
                .get("me") { req throws -> String in try req.auth.require(Customer.self).name }

            #expect(try await app.testing().sendRequest(.GET, "me").status == .unauthorized)
            let login = try await app.testing().sendRequest(.POST, "login/u1")
            let session = try cookie(of: login)
            let me = try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": session])
            #expect(me.body.string == "Alice")
            _ = try await app.testing().sendRequest(.POST, "logout", headers: ["Cookie": session])
            #expect(try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": session]).status == .unauthorized)

            let number = try cookie(of: try await app.testing().sendRequest(.POST, "login-number"))
            #expect(
                try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": number]).status == .unauthorized, "an unreadable id is no login")
        }
    }

    @Test func vaporsOwnSessionAuthenticatorWorksThroughTheDriver() async throws {
        let manager = try manager()
        try await withApp { app in
            app.sessions.use(.distributed(manager))
            let sessions = app.grouped(app.sessions.middleware, CustomerSessionAuthenticator())
            sessions.post("login", ":id") { req throws -> String in
                guard let customer = customers[req.parameters.get("id") ?? ""] else { throw Abort(.unauthorized) }
                req.auth.login(customer)
                return "welcome"
            }
            sessions.post("logout") { req -> String in
                req.auth.logout(Customer.self)
                return "bye"
            }
            sessions.grouped(Customer.guardMiddleware()).get("me") { req throws -> String in try req.auth.require(Customer.self).name }

            let session = try cookie(of: try await app.testing().sendRequest(.POST, "login/u2"))
            #expect(try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": session]).body.string == "Bob")
            _ = try await app.testing().sendRequest(.POST, "logout", headers: ["Cookie": session])
            #expect(try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": session]).status == .unauthorized)
        }
    }
}
