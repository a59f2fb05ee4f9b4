import Testing

@testable import SessionManager

/// The whole-session value, login and logout, and `Duration` expiry settings, on the memory
/// store: what the first hour of a user touches.
@Suite struct SessionValueAndLoginTests {
    struct Cart: Codable, Equatable {
        var items: [String]
    }

    private func manager(_ configure: (inout SessionManagerConfiguration) -> Void = { _ in }) throws -> SessionManager {
        var configuration = SessionManagerConfiguration()
        configure(&configuration)
        return try SessionManager(configuration: configuration, store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"]))
    }

    @Test func theWholeSessionValueSurvivesAReloadBesideNamedAttributes() async throws {
        // Non-sticky: the second request reads what the store holds, not memory.
        let server = try manager { $0.sticky = false }
        var browser = Browser()
        try await browser.request(server) { session throws in
            #expect(try session.value(as: Cart.self) == nil)
            try session.setValue(Cart(items: ["tea"]))
            try session.setAttribute("theme", "dark")
        }
        try await browser.request(server) { session throws in
            #expect(try session.value(as: Cart.self) == Cart(items: ["tea"]))
            #expect(try session.attribute("theme", as: String.self) == "dark")
            session.removeValue()
        }
        try await browser.request(server) { session throws in
            #expect(try session.value(as: Cart.self) == nil)
            #expect(try session.attribute("theme", as: String.self) == "dark", "removing the value keeps the attributes")
        }
    }

    @Test func aValueOfAnotherShapeIsACodingErrorNotACrash() async throws {
        let session = makeSession()
        try session.setValue(["not", "a", "cart"])
        let error = #expect(throws: SessionError.self) { try session.value(as: Cart.self) }
        #expect(error?.code == .attributeCoding)
    }

    @Test func thePackagesOwnAttributesAreStoredWhateverTheFilterSays() async throws {
        let server = try manager {
            $0.sticky = false
            $0.sessionAttributeFilter = "visits"
        }
        var browser = Browser()
        try await browser.request(server) { session throws in
            try session.setValue(Cart(items: ["tea"]))
            try session.setAttribute("scratch", 1)
        }
        try await browser.request(server) { session throws in
            #expect(try session.value(as: Cart.self) == Cart(items: ["tea"]))
            #expect(session.rawAttribute("scratch") == nil, "the filter still applies to the app's own names")
        }
    }

    @Test func loginRotatesTheIDAndRecordsTheUserLogoutEndsTheSession() async throws {
        let server = try manager { $0.sticky = false }
        var browser = Browser()
        _ = try await browser.visit(server)
        let anonymousID = try #require(browser.id)

        let login = try #require(server.beginRequest(cookie: browser.cookie, method: "POST", path: "/login"))
        let session = try await login.logIn(userID: "alice")
        #expect(session.id.random != anonymousID.random)
        #expect(try await login.userID(as: String.self) == "alice")
        guard case .set(let newID) = try await login.finish() else {
            Issue.record("login must send the new id")
            return
        }
        #expect(try await server.beginRequest(cookie: anonymousID.description, method: "GET", path: "/")?.existingSession() == nil)

        let next = try #require(server.beginRequest(cookie: newID.description, method: "GET", path: "/"))
        #expect(try await next.userID(as: String.self) == "alice")
        #expect(try await next.existingSession()?.attribute("visits", as: Int.self) == 1, "login keeps what the session held")
        _ = try await next.finish()

        let logout = try #require(server.beginRequest(cookie: newID.description, method: "POST", path: "/logout"))
        try await logout.logOut()
        #expect(try await logout.finish() == .expire)
        let after = try #require(server.beginRequest(cookie: newID.description, method: "GET", path: "/"))
        #expect(try await after.userID(as: String.self) == nil)
        #expect(try await after.existingSession() == nil)
    }

    @Test func anIDRecordedAsAnotherTypeIsNobodyLoggedIn() async throws {
        let server = try manager()
        let login = try #require(server.beginRequest(cookie: nil, method: "POST", path: "/login"))
        let session = try await login.logIn(userID: 42)
        #expect(try await login.userID(as: Int.self) == 42)
        #expect(try await login.userID(as: String.self) == nil, "not an error: the authenticators rely on it")
        #expect(throws: SessionError.self, "the session itself still says what is wrong") { try session.userID(as: String.self) }
        _ = try await login.finish()
    }

    @Test func logoutWithoutASessionDoesNothing() async throws {
        let server = try manager()
        let request = try #require(server.beginRequest(cookie: nil, method: "POST", path: "/logout"))
        try await request.logOut()
        #expect(try await request.finish() == .none)
    }

    @Test(arguments: [
        (Duration.seconds(1800), 1800),
        (.milliseconds(1500), 2),
        (.milliseconds(1), 1),
        (.zero, 0),
        (.seconds(-5), 0),
        (.seconds(Int64.max), Int(Int32.max)),
    ])
    func maxInactiveIntervalIsWholeSecondsRoundedUp(interval: Duration, seconds: Int) throws {
        var configuration = SessionManagerConfiguration()
        configuration.maxInactiveInterval = interval
        #expect(configuration.maxInactiveIntervalSeconds == seconds)
        let session = makeSession()
        session.maxInactiveInterval = interval
        #expect(session.maxInactiveInterval == .seconds(seconds))
    }
}
