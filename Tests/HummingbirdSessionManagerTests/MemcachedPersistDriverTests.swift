import Hummingbird
import HummingbirdAuth
import HummingbirdTesting
import HummingbirdSessionManager  // imported whole beside HummingbirdAuth: no name clashes
import MemcachedClient
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

struct Profile: Codable, Sendable, Equatable {
    var name: String
    var visits: Int
}

/// hummingbird-auth's session payload in the end-to-end test.
struct LoginSession: Codable, Sendable {
    var user: String
}

@Suite(.serialized) struct MemcachedPersistDriverTests {
    private func withDriver(
        keyPrefix: String = MemcachedPersistDriver.defaultKeyPrefix,
        _ body: (MemcachedPersistDriver, MemcachedCluster) async throws -> Void
    ) async throws {
        try await MemcachedCluster.with(nodes: ["m1", "m2"]) { cluster in
            let driver = try MemcachedPersistDriver(client: cluster.makeClient(), nodeID: "m2", keyPrefix: keyPrefix)
            try await body(driver, cluster)
        }
    }

    @Test func createGetSetRemove() async throws {
        try await withDriver { driver, cluster in
            let alice = Profile(name: "alice", visits: 1)
            #expect(try await driver.get(key: "profile", as: Profile.self) == nil)
            try await driver.create(key: "profile", value: alice, expires: nil)
            #expect(try await driver.get(key: "profile", as: Profile.self) == alice)

            // Stored as JSON, under the prefix, on the chosen node only.
            let raw = try #require(try await cluster.rawGet("hb:profile", on: "m2"))
            #expect(try JSONDecoder().decode(Profile.self, from: Data(raw.value.readableBytesView)) == alice)
            #expect(raw.timeToLive == nil)
            #expect(try await cluster.rawGet("hb:profile", on: "m1") == nil)
            #expect(try await cluster.rawGet("profile", on: "m2") == nil)

            let bob = Profile(name: "bob", visits: 2)
            try await driver.set(key: "profile", value: bob, expires: nil)
            #expect(try await driver.get(key: "profile", as: Profile.self) == bob)
            try await driver.set(key: "fresh", value: "new", expires: nil)  // set creates too
            #expect(try await driver.get(key: "fresh", as: String.self) == "new")

            try await driver.remove(key: "profile")
            #expect(try await driver.get(key: "profile", as: Profile.self) == nil)
            try await driver.remove(key: "profile")  // removing nothing is fine
            // After a remove, create works again.
            try await driver.create(key: "profile", value: alice, expires: nil)
            #expect(try await driver.get(key: "profile", as: Profile.self) == alice)
        }
    }

    @Test func createOnAnExistingKeyIsADuplicateAndChangesNothing() async throws {
        try await withDriver { driver, _ in
            try await driver.create(key: "k", value: 1, expires: .seconds(600))
            await #expect(throws: PersistError.duplicate) {
                try await driver.create(key: "k", value: 2, expires: nil)
            }
            let stored = try #require(try await driver.getWithTTL(key: "k", as: Int.self))
            #expect(stored.object == 1)
            #expect(stored.ttl != nil, "the failed create must not have replaced the item")
        }
    }

    @Test func getWithTTLReportsTheRemainingTime() async throws {
        try await withDriver { driver, _ in
            try await driver.set(key: "short", value: "s", expires: .seconds(600))
            let short = try #require(try await driver.getWithTTL(key: "short", as: String.self))
            #expect(short.object == "s")
            let ttl = try #require(short.ttl)
            #expect(ttl > .seconds(590) && ttl <= .seconds(600))

            try await driver.set(key: "forever", value: "f", expires: nil)
            let forever = try #require(try await driver.getWithTTL(key: "forever", as: String.self))
            #expect(forever.object == "f")
            #expect(forever.ttl == nil)

            #expect(try await driver.getWithTTL(key: "absent", as: String.self) == nil)
        }
    }

    /// `set` without an expiration keeps the one the value has (the protocol's contract); with one
    /// it replaces it. One short sleep proves expiry for all of them.
    @Test func expiryAndSetWithoutExpirationKeepingIt() async throws {
        try await withDriver { driver, _ in
            try await driver.set(key: "long", value: 1, expires: .seconds(600))
            try await driver.set(key: "long", value: 2, expires: nil)
            let long = try #require(try await driver.getWithTTL(key: "long", as: Int.self))
            #expect(long.object == 2)
            #expect(long.ttl.map { $0 > .seconds(590) } == true, "set(expires: nil) dropped the expiration: \(String(describing: long.ttl))")

            try await driver.create(key: "created", value: 1, expires: .seconds(1))
            try await driver.set(key: "kept", value: 1, expires: .seconds(1))
            try await driver.set(key: "kept", value: 2, expires: nil)
            try await driver.set(key: "replaced", value: 1, expires: .seconds(1))
            try await driver.set(key: "replaced", value: 2, expires: .seconds(600))
            try await driver.set(key: "never", value: 1, expires: nil)
            try await driver.set(key: "never", value: 2, expires: nil)
            #expect(try await driver.get(key: "created", as: Int.self) == 1)
            #expect(try await driver.get(key: "kept", as: Int.self) == 2)

            // memcached's clock ticks in whole seconds: a 1 s item is gone within 2 s.
            try await Task.sleep(for: .milliseconds(2_500))
            #expect(try await driver.get(key: "created", as: Int.self) == nil)
            #expect(try await driver.get(key: "kept", as: Int.self) == nil)
            #expect(try await driver.getWithTTL(key: "kept", as: Int.self) == nil)
            #expect(try await driver.get(key: "replaced", as: Int.self) == 2)
            #expect(try await driver.get(key: "never", as: Int.self) == 2)
            #expect(try await driver.getWithTTL(key: "never", as: Int.self)?.ttl == nil)
            // An expired key can be created again.
            try await driver.create(key: "created", value: 3, expires: nil)
            #expect(try await driver.get(key: "created", as: Int.self) == 3)
        }
    }

    @Test func aValueOfAnotherTypeIsAnInvalidConversion() async throws {
        try await withDriver { driver, cluster in
            try await driver.set(key: "number", value: 42, expires: nil)
            await #expect(throws: PersistError.invalidConversion) { try await driver.get(key: "number", as: Profile.self) }
            await #expect(throws: PersistError.invalidConversion) { try await driver.get(key: "number", as: String.self) }
            await #expect(throws: PersistError.invalidConversion) { try await driver.getWithTTL(key: "number", as: [String].self) }
            #expect(try await driver.get(key: "number", as: Int.self) == 42)

            // Bytes that are not JSON at all (another program's item).
            let node = try cluster.makeClient().node(id: "m2")
            try await node.set(MemcachedKey("hb:foreign"), value: ByteBuffer(bytes: [0xAC, 0xED, 0x00, 0x05]))
            await #expect(throws: PersistError.invalidConversion) { try await driver.get(key: "foreign", as: String.self) }
        }
    }

    @Test func keysThatCannotBeMemcachedKeysAreRejectedBeforeAnyTraffic() async throws {
        try await withDriver { driver, cluster in
            let before = try await cluster.dataCommandCounts()
            let tooLong = String(repeating: "k", count: 248)  // "hb:" + 248 = 251 bytes
            for key in ["has space", "line\r\nbreak", "tab\there", tooLong, "nul\u{0}"] {
                let error = await #expect(throws: MemcachedError.self) { try await driver.set(key: key, value: 1, expires: nil) }
                #expect(error?.code == .invalidKey)
                #expect(error.map { !$0.message.contains(key) } == true, "the key itself stays out of the error")
                await #expect(throws: MemcachedError.self) { try await driver.create(key: key, value: 1, expires: nil) }
                await #expect(throws: MemcachedError.self) { try await driver.get(key: key, as: Int.self) }
                await #expect(throws: MemcachedError.self) { try await driver.getWithTTL(key: key, as: Int.self) }
                await #expect(throws: MemcachedError.self) { try await driver.remove(key: key) }
            }
            #expect(try await cluster.dataCommandCounts() == before)

            // The longest key that fits works, and is not mangled.
            let longest = String(repeating: "k", count: 247)
            try await driver.set(key: longest, value: 7, expires: nil)
            #expect(try await driver.get(key: longest, as: Int.self) == 7)
            #expect(try await cluster.rawGet("hb:" + longest, on: "m2") != nil)

            // A prefix that can never start a key fails at once; an empty one is allowed.
            let client = try cluster.makeClient()
            for prefix in ["a b", "x\n", String(repeating: "p", count: 250)] {
                let error = #expect(throws: MemcachedError.self) { try MemcachedPersistDriver(client: client, nodeID: "m1", keyPrefix: prefix) }
                #expect(error?.code == .invalidKey)
            }
            let unprefixed = try MemcachedPersistDriver(client: client, nodeID: "m1", keyPrefix: "")
            try await unprefixed.set(key: "bare", value: true, expires: nil)
            #expect(try await cluster.rawGet("bare", on: "m1") != nil)
            await #expect(throws: MemcachedError.self) { try await unprefixed.get(key: "", as: Bool.self) }

            let unknown = #expect(throws: MemcachedError.self) { try MemcachedPersistDriver(client: client, nodeID: "m3") }
            #expect(unknown?.code == .unknownNode)
        }
    }

    /// `run()` is a well-behaved service: it returns on graceful shutdown.
    @Test(.timeLimit(.minutes(1))) func runReturnsOnGracefulShutdown() async throws {
        try await withDriver { driver, _ in
            let app = Application(router: Router(), services: [driver])
            try await app.test(.live) { client in
                let response = try await client.execute(uri: "/", method: .get)
                #expect(response.status == .notFound)
            }
        }
    }

    /// hummingbird-auth's own session middleware, unchanged but for the driver: login stores the
    /// session in memcached, later requests with the cookie see it, updates keep the expiry,
    /// logout deletes it.
    @Test func hummingbirdAuthSessionsEndToEnd() async throws {
        try await withDriver { driver, cluster in
            let router = Router(context: BasicSessionRequestContext<LoginSession, String>.self)
            router.add(middleware: SessionMiddleware(storage: driver))
            router.post("/login") { request, context -> HTTPResponse.Status in
                guard let user = request.uri.queryParameters.get("user") else { throw HTTPError(.badRequest) }
                context.sessions.createSession(LoginSession(user: user), expiresIn: .seconds(600))
                return .ok
            }
            router.post("/rename") { request, context -> HTTPResponse.Status in
                guard let user = request.uri.queryParameters.get("user") else { throw HTTPError(.badRequest) }
                guard context.sessions.updateSession(LoginSession(user: user)) else { throw HTTPError(.unauthorized) }
                return .ok
            }
            router.post("/logout") { _, context -> HTTPResponse.Status in
                context.sessions.clearSession()
                return .ok
            }
            router.get("/me") { _, context -> String in
                guard let session = context.sessions.session else { throw HTTPError(.unauthorized) }
                return session.user
            }
            let app = Application(router: router)

            try await app.test(.router) { client in
                #expect(try await client.execute(uri: "/me", method: .get).status == .unauthorized)

                let login = try await client.execute(uri: "/login?user=alice", method: .post)
                #expect(login.status == .ok)
                let setCookie = try #require(login.headers[.setCookie])
                #expect(setCookie.hasPrefix("SESSION_ID="))
                let cookie = cookiePair(setCookie)
                let sessionKey = "hb:hbs." + cookieValue(setCookie)

                let stored = try #require(try await cluster.rawGet(sessionKey, on: "m2"), "hummingbird-auth's key, under our prefix")
                #expect(String(buffer: stored.value) == #"{"user":"alice"}"#)
                let ttl = try #require(stored.timeToLive)
                #expect(ttl > .seconds(590) && ttl <= .seconds(600))

                let me = try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie])
                #expect(me.status == .ok)
                #expect(me.text == "alice")

                // updateSession without expiresIn: hummingbird-auth calls set(expires: nil).
                let rename = try await client.execute(uri: "/rename?user=bob", method: .post, headers: [.cookie: cookie])
                #expect(rename.status == .ok)
                #expect(rename.headers[.setCookie] == nil)
                let renamed = try #require(try await cluster.rawGet(sessionKey, on: "m2"))
                #expect(String(buffer: renamed.value) == #"{"user":"bob"}"#)
                #expect(renamed.timeToLive.map { $0 > .seconds(590) } == true, "the session's expiry survives an update")
                #expect(try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie]).text == "bob")

                let logout = try await client.execute(uri: "/logout", method: .post, headers: [.cookie: cookie])
                #expect(logout.status == .ok)
                #expect(try await cluster.rawGet(sessionKey, on: "m2") == nil)
                #expect(try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie]).status == .unauthorized)

                // A forged cookie too long for a memcached key: the driver refuses it, hummingbird-auth
                // treats the failed load as no session.
                let forged = try await client.execute(uri: "/me", method: .get, headers: [.cookie: "SESSION_ID=" + String(repeating: "A", count: 300)])
                #expect(forged.status == .unauthorized)
            }
        }
    }
}
