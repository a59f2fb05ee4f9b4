import Hummingbird
import HummingbirdSessionManager
import HummingbirdTesting
import ServerTestSupport
import SessionManager
import SessionManagerTestSupport
import Testing

/// An application's own context: proves that ``DistributedSessionRequestContext`` is all a context needs.
struct ShopRequestContext: DistributedSessionRequestContext {
    var coreContext: CoreRequestContextStorage
    var sessions = DistributedSessionContext()
    var tenant = "shop"

    init(source: Source) {
        self.coreContext = .init(source: source)
    }
}

/// The app every test drives: `DistributedSessionMiddleware` in front of every route.
func sessionRouter<Context: DistributedSessionRequestContext>(_ manager: SessionManager, context: Context.Type) -> Router<Context> {
    let router = Router(context: Context.self)
    router.add(middleware: DistributedSessionMiddleware(manager: manager))
    router.get("/plain") { _, _ in "plain" }
    router.get("/visits") { _, context -> String in
        let session = try await context.sessions.session()
        let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
        try session.setAttribute("visits", visits)
        return "\(visits)"
    }
    router.get("/id") { _, context -> String in
        try await context.sessions.existingSession()?.id.description ?? "-"
    }
    router.post("/logout") { _, context -> String in
        try await context.sessions.invalidate()
        return "bye"
    }
    router.post("/login") { request, context -> String in
        let newID = try await context.sessions.changeSessionID()
        let session = try await context.sessions.session()
        try session.setAttribute("user", request.uri.queryParameters.get("user") ?? "")
        return newID.description
    }
    router.get("/user") { _, context -> String in
        try await context.sessions.existingSession()?.attribute("user", as: String.self) ?? "-"
    }
    router.post("/fail") { request, context -> String in
        let session = try await context.sessions.session()
        try session.setAttribute("note", request.uri.queryParameters.get("note") ?? "")
        throw HTTPError(.notFound)
    }
    router.get("/note") { _, context -> String in
        try await context.sessions.existingSession()?.attribute("note", as: String.self) ?? "-"
    }
    // Ignored by the pattern the tests configure: one touches its session, one does not.
    router.get("/static/{file}") { _, context -> String in
        _ = try await context.sessions.session()
        return "static"
    }
    router.get("/assets/{file}") { _, _ in "asset" }
    return router
}

/// The request contexts every cookie scenario runs with: the adapter's and an app's own.
enum ContextKind: CaseIterable {
    case basic, custom
}

/// The session id format the cookie must carry: `<32 upper-case hex>-<node>.<route>`.
var sessionCookiePattern: Regex<(Substring, Substring, Substring)> { #/^SESSIONID=([0-9A-F]{32})-(m1|m2)\.A; Path=/; HttpOnly; SameSite=Lax$/# }

@Suite(.serialized) struct SessionMiddlewareTests {
    /// A request that never asks for its session: no cookie, no store command, with or without a
    /// cookie, in both modes.
    @Test(arguments: StoreBackend.underTest, [true, false])
    func aRequestThatNeverTouchesItsSessionCostsNothing(backend: StoreBackend, sticky: Bool) async throws {
        try await StoreTestCluster.with(backend: backend) { cluster in
            let manager = try cluster.makeServer(sticky: sticky) { $0.lockingMode = sticky ? .none : .all }
            let app = Application(router: sessionRouter(manager, context: BasicDistributedSessionRequestContext.self))
            try await app.test(.router) { client in
                let created = try await client.execute(uri: "/visits", method: .get)
                let cookie = cookiePair(try #require(created.setCookies.first))

                let before = try await cluster.dataCommandCounts()
                let anonymous = try await client.execute(uri: "/plain", method: .get)
                #expect(anonymous.status == .ok)
                #expect(anonymous.setCookies.isEmpty)
                let withCookie = try await client.execute(uri: "/plain", method: .get, headers: [.cookie: cookie])
                #expect(withCookie.status == .ok)
                #expect(withCookie.setCookies.isEmpty)
                let after = try await cluster.dataCommandCounts()
                #expect(before == after)
                #expect(before.count == 2 && before.values.allSatisfy { !$0.isEmpty }, "the counters were really read: \(before)")
            }
        }
    }

    /// New session: one cookie with msm's id and the configured attributes, and the session is
    /// stored on the node the id names; the next request keeps the state and sends no cookie;
    /// logout expires the cookie.
    @Test(arguments: StoreBackend.underTest, [true, false])
    func cookieLifecycle(backend: StoreBackend, sticky: Bool) async throws {
        try await StoreTestCluster.with(backend: backend) { cluster in
            let manager = try cluster.makeServer(sticky: sticky)
            for kind in ContextKind.allCases {
                switch kind {
                case .basic:
                    try await exerciseCookieLifecycle(
                        Application(router: sessionRouter(manager, context: BasicDistributedSessionRequestContext.self)), cluster)
                case .custom:
                    try await exerciseCookieLifecycle(Application(router: sessionRouter(manager, context: ShopRequestContext.self)), cluster)
                }
            }
        }
    }

    private func exerciseCookieLifecycle(_ app: some ApplicationProtocol, _ cluster: StoreTestCluster) async throws {
        try await app.test(.router) { client in
            let first = try await client.execute(uri: "/visits", method: .get)
            #expect(first.status == .ok)
            #expect(first.text == "1")
            #expect(first.setCookies.count == 1)
            let setCookie = try #require(first.setCookies.first)
            let match = try #require(setCookie.wholeMatch(of: sessionCookiePattern), "unexpected Set-Cookie \(setCookie)")
            #expect(!setCookie.lowercased().contains("expires"))
            let (random, node) = (String(match.1), String(match.2))
            #expect(try await cluster.rawGet(random, on: node) != nil, "the session is stored on the node its id names")
            let cookie = cookiePair(setCookie)

            let second = try await client.execute(uri: "/visits", method: .get, headers: [.cookie: cookie])
            #expect(second.status == .ok)
            #expect(second.text == "2")
            #expect(second.setCookies.isEmpty)

            let logout = try await client.execute(uri: "/logout", method: .post, headers: [.cookie: cookie])
            #expect(logout.status == .ok)
            #expect(logout.setCookies == ["SESSIONID=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"])
            #expect(try await cluster.rawGet(random, on: node) == nil, "invalidation removes the stored session")

            let afterLogout = try await client.execute(uri: "/visits", method: .get, headers: [.cookie: cookie])
            #expect(afterLogout.text == "1")
            let fresh = try #require(afterLogout.setCookies.first)
            #expect(fresh.wholeMatch(of: sessionCookiePattern) != nil)
            #expect(cookiePair(fresh) != cookie)
        }
    }

    /// Login rotates the id: the new cookie carries the state, the old id is dead.
    @Test(arguments: StoreBackend.underTest)
    func changeSessionIDSendsANewCookieAndKillsTheOldID(backend: StoreBackend) async throws {
        try await StoreTestCluster.with(backend: backend) { cluster in
            let manager = try cluster.makeServer()
            let app = Application(router: sessionRouter(manager, context: BasicDistributedSessionRequestContext.self))
            try await app.test(.router) { client in
                let first = try await client.execute(uri: "/visits", method: .get)
                let oldCookie = cookiePair(try #require(first.setCookies.first))

                let login = try await client.execute(uri: "/login?user=alice", method: .post, headers: [.cookie: oldCookie])
                #expect(login.status == .ok)
                #expect(login.setCookies.count == 1)
                let newSetCookie = try #require(login.setCookies.first)
                #expect(newSetCookie.wholeMatch(of: sessionCookiePattern) != nil)
                #expect(cookieValue(newSetCookie) == login.text)
                let newCookie = cookiePair(newSetCookie)
                #expect(newCookie != oldCookie)

                let kept = try await client.execute(uri: "/visits", method: .get, headers: [.cookie: newCookie])
                #expect(kept.text == "2")
                #expect(kept.setCookies.isEmpty)
                #expect(try await client.execute(uri: "/user", method: .get, headers: [.cookie: newCookie]).text == "alice")

                let old = try await client.execute(uri: "/visits", method: .get, headers: [.cookie: oldCookie])
                #expect(old.text == "1", "the old id must give a fresh session")
                let replacement = try #require(old.setCookies.first)
                #expect(cookiePair(replacement) != oldCookie)
                #expect(cookiePair(replacement) != newCookie)
            }
        }
    }

    /// An `HTTPError` thrown after the session changed: the error response carries the cookie and
    /// the change is in the store (another app server reads it).
    @Test(arguments: StoreBackend.underTest)
    func anErrorResponseStillStoresTheSessionAndSendsTheCookie(backend: StoreBackend) async throws {
        try await StoreTestCluster.with(backend: backend) { cluster in
            let a = try cluster.makeServer(route: "A")
            let b = try cluster.makeServer(route: "B")
            let appA = Application(router: sessionRouter(a, context: BasicDistributedSessionRequestContext.self))
            let appB = Application(router: sessionRouter(b, context: ShopRequestContext.self))
            let cookie = try await appA.test(.router) { client in
                let failed = try await client.execute(uri: "/fail?note=remember", method: .post)
                #expect(failed.status == .notFound)
                #expect(failed.setCookies.count == 1)
                let setCookie = try #require(failed.setCookies.first)
                #expect(setCookie.wholeMatch(of: sessionCookiePattern) != nil)
                return cookiePair(setCookie)
            }
            try await appB.test(.router) { client in
                let note = try await client.execute(uri: "/note", method: .get, headers: [.cookie: cookie])
                #expect(note.status == .ok)
                #expect(note.text == "remember")
            }
            // An existing session changed by a failing request is stored too.
            try await appA.test(.router) { client in
                let failed = try await client.execute(uri: "/fail?note=again", method: .post, headers: [.cookie: cookie])
                #expect(failed.status == .notFound)
            }
            try await appB.test(.router) { client in
                let note = try await client.execute(uri: "/note", method: .get, headers: [.cookie: cookie])
                #expect(note.text == "again")
            }
        }
    }

    /// A path matching `requestURIIgnorePattern` does no session work even behind the middleware;
    /// a handler there that asks for its session gets a 500 (the contract, not a silent session).
    @Test(arguments: StoreBackend.underTest)
    func ignoredPathsDoNoSessionWork(backend: StoreBackend) async throws {
        try await StoreTestCluster.with(backend: backend) { cluster in
            let manager = try cluster.makeServer { $0.requestURIIgnorePattern = #".*\.(css|png)$"# }
            let app = Application(router: sessionRouter(manager, context: BasicDistributedSessionRequestContext.self))
            try await app.test(.router) { client in
                let created = try await client.execute(uri: "/visits", method: .get)
                let cookie = cookiePair(try #require(created.setCookies.first))

                let before = try await cluster.dataCommandCounts()
                let asset = try await client.execute(uri: "/assets/logo.png", method: .get, headers: [.cookie: cookie])
                #expect(asset.status == .ok)
                #expect(asset.setCookies.isEmpty)
                for headers: HTTPFields in [[:], [.cookie: cookie]] {
                    let touching = try await client.execute(uri: "/static/site.css", method: .get, headers: headers)
                    #expect(touching.status == .internalServerError)
                    #expect(touching.setCookies.isEmpty)
                }
                #expect(try await cluster.dataCommandCounts() == before)

                // The same handler on a path that is not ignored has its session.
                let notIgnored = try await client.execute(uri: "/static/page.html", method: .get, headers: [.cookie: cookie])
                #expect(notIgnored.status == .ok)
            }
        }
    }

    /// Non-sticky, locking `all`: while another app server holds the session's lock the request
    /// gets 503 with `Retry-After`; once released it goes through with the state intact.
    @Test(arguments: StoreBackend.underTest)
    func aHeldLockIsA503WithRetryAfter(backend: StoreBackend) async throws {
        try await StoreTestCluster.with(backend: backend) { cluster in
            let configure: (inout SessionManagerConfiguration) -> Void = {
                $0.lockingMode = .all
                $0.lockTimeout = .milliseconds(300)
            }
            let manager = try cluster.makeServer(route: "A", sticky: false, configure: configure)
            let otherServer = try cluster.makeServer(route: "B", sticky: false, configure: configure)
            let app = Application(router: sessionRouter(manager, context: BasicDistributedSessionRequestContext.self))
            try await app.test(.router) { client in
                let created = try await client.execute(uri: "/visits", method: .get)
                let setCookie = try #require(created.setCookies.first)

                let holder = try #require(otherServer.beginRequest(cookie: cookieValue(setCookie), method: "GET", path: "/visits"))
                #expect(try await holder.existingSession() != nil)  // holds the lock

                let blocked = try await client.execute(uri: "/visits", method: .get, headers: [.cookie: cookiePair(setCookie)])
                #expect(blocked.status == .serviceUnavailable)
                #expect(blocked.headers[.retryAfter] == "1")
                #expect(blocked.setCookies.isEmpty)

                _ = try await holder.finish()
                let released = try await client.execute(uri: "/visits", method: .get, headers: [.cookie: cookiePair(setCookie)])
                #expect(released.status == .ok)
                #expect(released.text == "2")
            }
        }
    }

    /// Non-sticky with every store node dead: a session request is a 503 (never a silently
    /// empty session); a request without session work is unaffected.
    @Test(arguments: StoreBackend.underTest)
    func everyNodeDownIsA503InNonStickyMode(backend: StoreBackend) async throws {
        try await StoreTestCluster.with(backend: backend) { cluster in
            let manager = try cluster.makeServer(sticky: false)
            let app = Application(router: sessionRouter(manager, context: BasicDistributedSessionRequestContext.self))
            try await app.test(.router) { client in
                let created = try await client.execute(uri: "/visits", method: .get)
                let cookie = cookiePair(try #require(created.setCookies.first))

                await cluster.killAll()

                let existing = try await client.execute(uri: "/visits", method: .get, headers: [.cookie: cookie])
                #expect(existing.status == .serviceUnavailable)
                #expect(existing.headers[.retryAfter] == "1")
                #expect(existing.setCookies.isEmpty)
                #expect(!existing.text.contains(cookieValue(cookie)), "the body never names the session")

                let new = try await client.execute(uri: "/visits", method: .get)
                #expect(new.status == .serviceUnavailable)
                #expect(new.setCookies.isEmpty)

                #expect(try await client.execute(uri: "/plain", method: .get).status == .ok)
            }
        }
    }

    /// A request's session warnings go to `context.logger`, with Hummingbird's request id.
    @Test func requestWarningsGoThroughTheContextLogger() async throws {
        let log = CapturedLog()
        let manager = try SessionManager(configuration: SessionManagerConfiguration(), store: MemorySessionStore.topology(nodeIDs: ["m1"]))
        let router = Router(context: BasicDistributedSessionRequestContext.self)
        router.add(middleware: DistributedSessionMiddleware(manager: manager))
        router.post("/login") { _, context -> String in
            try await context.sessions.logIn(userID: "alice")
            return "welcome"
        }
        router.get("/numeric-id") { _, context -> String in
            (try await context.sessions.userID(as: Int.self)).map(String.init) ?? "-"
        }
        let app = Application(router: router, logger: log.logger(label: "app"))
        try await app.test(.router) { client in
            let login = try await client.execute(uri: "/login", method: .post)
            let cookie = cookiePair(try #require(login.setCookies.first))
            let read = try await client.execute(uri: "/numeric-id", method: .get, headers: [.cookie: cookie])
            #expect(read.text == "-", "an id of another type is nobody")
        }
        let warning = try #require(log.lines.withLock { $0 }.first { $0.message.contains("session user id unreadable") }, "\(log.messages)")
        #expect(warning.metadata["hb.request.id"] != nil, "logged through the request's logger: \(warning.metadata)")
    }
}
