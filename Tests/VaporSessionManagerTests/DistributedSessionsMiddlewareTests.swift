import Logging
import SessionManager
import SessionManagerTestSupport
import SessionManagerTesting
import Testing
import Vapor
import VaporSessionManager
import VaporTesting

/// The Vapor middleware on the memory store, through Vapor's own testing module: the same cookie
/// rules and API as the Hummingbird adapter.
@Suite struct DistributedSessionsMiddlewareTests {
    struct Cart: Codable, Sendable {
        var items: [String] = []
    }

    /// An app with the demo's kind of routes over `manager`.
    func withSessionApp(
        _ configure: (inout SessionManagerConfiguration) -> Void = { _ in },
        _ test: (Application, SessionManager) async throws -> Void
    ) async throws {
        var configuration = SessionManagerConfiguration()
        configure(&configuration)
        let manager = try SessionManager(configuration: configuration, store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"]))
        try await withApp { app in
            app.distributedSessions.use(manager)
            app.get("plain") { _ in "plain" }
            app.get("visits") { req async throws -> String in
                let session = try await req.distributedSession.session()
                let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
                try session.setAttribute("visits", visits)
                return "\(visits)"
            }
            app.get("cart") { req async throws -> String in
                (try await req.distributedSession.value(as: Cart.self) ?? Cart()).items.joined(separator: ",")
            }
            app.post("cart", ":item") { req async throws -> String in
                var cart = try await req.distributedSession.value(as: Cart.self) ?? Cart()
                cart.items.append(req.parameters.get("item") ?? "")
                try await req.distributedSession.setValue(cart)
                return cart.items.joined(separator: ",")
            }
            app.post("login") { req async throws -> String in
                try await req.distributedSession.logIn(userID: req.query[String.self, at: "user"] ?? "")
                return "welcome"
            }
            app.get("me") { req async throws -> String in
                try await req.distributedSession.userID(as: String.self) ?? "-"
            }
            app.post("logout") { req async throws -> String in
                try await req.distributedSession.logOut()
                return "bye"
            }
            app.post("fail") { req async throws -> String in
                try await req.distributedSession.session().setAttribute("note", "kept")
                throw Abort(.notFound)
            }
            try await test(app, manager)
        }
    }

    private func sessionCookie(of response: TestingHTTPResponse) -> String? {
        response.headers[.setCookie].first?.split(separator: ";").first.map(String.init)
    }

    @Test func aNewSessionGetsOneCookieAndAnUnchangedOneNone() async throws {
        try await withSessionApp { app, _ in
            let first = try await app.testing().sendRequest(.GET, "visits")
            #expect(first.body.string == "1")
            let setCookies = first.headers[.setCookie]
            #expect(setCookies.count == 1)
            let header = try #require(setCookies.first)
            #expect(header.wholeMatch(of: #/SESSIONID=[0-9A-F]{32}-m[12]; Path=/; HttpOnly; SameSite=Lax/#) != nil, "\(header)")
            let cookie = try #require(sessionCookie(of: first))

            let second = try await app.testing().sendRequest(.GET, "visits", headers: ["Cookie": cookie])
            #expect(second.body.string == "2")
            #expect(second.headers[.setCookie].isEmpty, "the id did not change: no cookie")

            let plain = try await app.testing().sendRequest(.GET, "plain", headers: ["Cookie": cookie])
            #expect(plain.headers[.setCookie].isEmpty)
        }
    }

    @Test func readingWithoutCreatingSendsNoCookie() async throws {
        try await withSessionApp { app, _ in
            let cart = try await app.testing().sendRequest(.GET, "cart")
            #expect(cart.status == .ok)
            #expect(cart.headers[.setCookie].isEmpty)
        }
    }

    @Test func theTypedValueLoginAndLogout() async throws {
        // Non-sticky: every request reads the store.
        try await withSessionApp({ $0.sticky = false }) { app, _ in
            let added = try await app.testing().sendRequest(.POST, "cart/tea")
            let anonymous = try #require(sessionCookie(of: added))
            let login = try await app.testing().sendRequest(.POST, "login?user=alice", headers: ["Cookie": anonymous])
            let loggedIn = try #require(sessionCookie(of: login))
            #expect(loggedIn != anonymous, "login rotates the id")
            #expect(try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": loggedIn]).body.string == "alice")
            #expect(try await app.testing().sendRequest(.GET, "cart", headers: ["Cookie": loggedIn]).body.string == "tea")
            #expect(try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": anonymous]).body.string == "-")

            let logout = try await app.testing().sendRequest(.POST, "logout", headers: ["Cookie": loggedIn])
            #expect(logout.headers[.setCookie] == ["SESSIONID=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
            #expect(try await app.testing().sendRequest(.GET, "me", headers: ["Cookie": loggedIn]).body.string == "-")
        }
    }

    @Test func aThrownErrorStillStoresTheSessionAndCarriesItsCookie() async throws {
        try await withSessionApp({ $0.sticky = false }) { app, _ in
            let failed = try await app.testing().sendRequest(.POST, "fail")
            #expect(failed.status == .notFound)
            let cookie = try #require(sessionCookie(of: failed), "the new session's cookie rides on the error response")
            let visits = try await app.testing().sendRequest(.GET, "visits", headers: ["Cookie": cookie])
            #expect(visits.body.string == "1")
            #expect(visits.headers[.setCookie].isEmpty, "the session from the failed request was stored")
        }
    }

    @Test func aForgedCookieGetsAFreshSession() async throws {
        try await withSessionApp { app, _ in
            for forged in ["../../etc", "ABC-m9", String(repeating: "A", count: 5000), "0123456789ABCDEF0123456789ABCDEF-m1\r\nX: y"] {
                let response = try await app.testing().sendRequest(.GET, "visits", headers: ["Cookie": "SESSIONID=\(forged)"])
                #expect(response.status == .ok)
                #expect(response.body.string == "1", "a forged id is no session: \(forged.prefix(40))")
            }
        }
    }

    @Test func aLockNotHadInTimeIsA503WithRetryAfter() async throws {
        try await withSessionApp({
            $0.sticky = false
            $0.lockingMode = .all
            $0.lockTimeout = .milliseconds(100)
        }) { app, manager in
            let first = try await app.testing().sendRequest(.GET, "visits")
            let cookie = try #require(sessionCookie(of: first))
            // Another request of this process holds the session's turn.
            let holder = try #require(manager.beginRequest(cookie: cookie.dropFirst("SESSIONID=".count).description, method: "GET", path: "/visits"))
            _ = try await holder.session()
            let blocked = try await app.testing().sendRequest(.GET, "visits", headers: ["Cookie": cookie])
            #expect(blocked.status == .serviceUnavailable)
            #expect(blocked.headers.first(name: "Retry-After") == "1")
            _ = try await holder.finish()
        }
    }

    /// What the README claims over Vapor's own SessionsMiddleware: a request carrying the cookie
    /// but never touching its session costs no store operation, in both modes; an ignored path
    /// does no session work at all.
    @Test(arguments: [true, false])
    func untouchedAndIgnoredRequestsCostNoStoreOperation(sticky: Bool) async throws {
        let m1 = FaultInjectingSessionStore(MemorySessionStore())
        let m2 = FaultInjectingSessionStore(MemorySessionStore())
        var configuration = SessionManagerConfiguration()
        configuration.sticky = sticky
        configuration.requestURIIgnorePattern = "/static/.*"
        let manager = try SessionManager(
            configuration: configuration,
            store: SessionStoreTopology(nodes: [.init(id: "m1", isFailover: false, store: m1), .init(id: "m2", isFailover: false, store: m2)]))
        try await withApp { app in
            app.distributedSessions.use(manager)
            app.get("plain") { _ in "plain" }
            app.get("visits") { req async throws -> String in
                try await req.distributedSession.session().setAttribute("seen", true)
                return "ok"
            }
            app.get("static", ":file") { req async throws -> String in
                do {
                    _ = try await req.distributedSession.session()
                    return "session"
                } catch let error as DistributedSessionError {
                    return "no session: \(error.status.code)"
                }
            }
            let cookie = try #require(sessionCookie(of: try await app.testing().sendRequest(.GET, "visits")))
            let before = (m1.counts, m2.counts)
            let plain = try await app.testing().sendRequest(.GET, "plain", headers: ["Cookie": cookie])
            #expect(plain.headers[.setCookie].isEmpty)
            let ignored = try await app.testing().sendRequest(.GET, "static/logo.png", headers: ["Cookie": cookie])
            #expect(ignored.body.string == "no session: 500", "an ignored path has no session")
            #expect(ignored.headers[.setCookie].isEmpty)
            #expect((m1.counts, m2.counts) == before, "no store operation for an untouched or ignored request")
            #expect(before.0.sets + before.1.sets == 2, "the counters really count: the first visit wrote two copies")
        }
    }

    @Test func withoutTheMiddlewareTheAccessSaysWhatToAdd() async throws {
        try await withApp { app in
            app.get("visits") { req async throws -> String in
                _ = try await req.distributedSession.session()
                return "never"
            }
            let response = try await app.testing().sendRequest(.GET, "visits")
            #expect(response.status == .internalServerError)
            #expect(response.body.string.contains("DistributedSessionsMiddleware"))
        }
    }

    /// Warnings about one request's session reach that request's logger, with its metadata.
    @Test func requestWarningsGoThroughTheRequestLogger() async throws {
        let captured = CapturedLog()
        let requestLogger = captured.logger(label: "request")
        let manager = try SessionManager(configuration: SessionManagerConfiguration(), store: MemorySessionStore.topology(nodeIDs: ["m1"]))
        try await withApp { app in
            app.middleware.use(RequestLoggerMiddleware(logger: requestLogger))  // runs before the session middleware
            app.distributedSessions.use(manager)
            app.post("login") { req async throws -> String in
                try await req.distributedSession.logIn(userID: "alice")
                return "welcome"
            }
            app.get("numeric-id") { req async throws -> String in
                (try await req.distributedSession.userID(as: Int.self)).map(String.init) ?? "-"
            }
            let login = try await app.testing().sendRequest(.POST, "login")
            let cookie = try #require(sessionCookie(of: login))
            let read = try await app.testing().sendRequest(.GET, "numeric-id", headers: ["Cookie": cookie])
            #expect(read.body.string == "-", "an id of another type is nobody")
        }
        let lines = captured.lines.withLock { $0 }
        let warning = try #require(lines.first { $0.message.contains("session user id unreadable") }, "\(captured.messages)")
        #expect(warning.metadata["marker"] == "numeric-id", "logged through the request's logger")
    }

    /// Gives every request `logger`, marked with the request's path.
    struct RequestLoggerMiddleware: AsyncMiddleware {
        let logger: Logger
        func respond(to request: Request, chainingTo next: any AsyncResponder) async throws -> Response {
            var logger = self.logger
            logger[metadataKey: "marker"] = "\(request.url.path.dropFirst())"
            request.logger = logger
            return try await next.respond(to: request)
        }
    }
}
