import Hummingbird
import HummingbirdAuth
import HummingbirdTesting
import MemcachedClient
import MemcachedPersistDriver
import NIOCore
import RedisClient
import RedisPersistDriver
import ServerTestSupport
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

/// The store behind a persist driver under test.
enum PersistBackend: String, CaseIterable, Sendable {
    case memcached, redis
}

/// A driver on a real server plus a side door to the stored bytes, bypassing the driver.
struct PersistStore: Sendable {
    let driver: any PersistDriver
    /// The stored text and remaining time (`nil`: never expires) of `key` where the driver keeps it.
    let raw: @Sendable (String) async throws -> (text: String, ttl: Duration?)?
    /// The same on another node (memcached) or database (Redis) of the same server set.
    let rawElsewhere: @Sendable (String) async throws -> (text: String, ttl: Duration?)?
    /// Writes bytes where the driver reads, as another program would.
    let rawSet: @Sendable (String, [UInt8]) async throws -> Void
}

/// Runs `body` with a driver on memcached node m2 of two, or on database 2 of a Redis server.
func withStore(_ backend: PersistBackend, _ body: (PersistStore) async throws -> Void) async throws {
    switch backend {
    case .memcached:
        try await MemcachedTestCluster.with(nodes: ["m1", "m2"]) { cluster in
            func raw(on node: String) -> @Sendable (String) async throws -> (text: String, ttl: Duration?)? {
                { key in try await cluster.rawGet(key, on: node).map { (String(buffer: $0.value), $0.timeToLive) } }
            }
            try await body(
                PersistStore(
                    driver: try MemcachedPersistDriver(client: cluster.makeClient("m2")),
                    raw: raw(on: "m2"),
                    rawElsewhere: raw(on: "m1"),
                    rawSet: { key, bytes in try await cluster.rawSet(key, bytes, on: "m2") }
                ))
        }
    case .redis:
        try await withRedisServer { server in
            // The driver's database (2) and another one (0) of the same server.
            let clients = [
                "d2": try RedisClient(server: RedisServer(url: "redis://\(server.endpoint)/2")),
                "d0": try RedisClient(server: RedisServer(url: "redis://\(server.endpoint)/0")),
            ]
            let client = clients["d2"]!
            func raw(on node: String) -> @Sendable (String) async throws -> (text: String, ttl: Duration?)? {
                { key in
                    let redis = clients[node]!
                    guard let value = try await redis.get(key) else { return nil }
                    guard case .expires(let left) = try await redis.timeToLive(key) else { return (String(buffer: value), nil) }
                    return (String(buffer: value), left)
                }
            }
            do {
                try await body(
                    PersistStore(
                        driver: RedisPersistDriver(client: client),
                        raw: raw(on: "d2"),
                        rawElsewhere: raw(on: "d0"),
                        rawSet: { key, bytes in try await client.set(key, value: ByteBuffer(bytes: bytes)) }
                    ))
            } catch {
                for client in clients.values { await client.shutdown() }
                throw error
            }
            for client in clients.values { await client.shutdown() }
        }
    }
}

/// Hummingbird's persist contract on both stores: the same scenarios, the same expectations.
@Suite(.serialized) struct PersistDriverTests {
    @Test(arguments: PersistBackend.allCases) func createGetSetRemove(backend: PersistBackend) async throws {
        try await withStore(backend) { store in
            let driver = store.driver
            let alice = Profile(name: "alice", visits: 1)
            #expect(try await driver.get(key: "profile", as: Profile.self) == nil)
            try await driver.create(key: "profile", value: alice, expires: nil)
            #expect(try await driver.get(key: "profile", as: Profile.self) == alice)

            // Stored as JSON, under the prefix, on the chosen node only.
            let raw = try #require(try await store.raw("hb:profile"))
            #expect(try JSONDecoder().decode(Profile.self, from: Data(raw.text.utf8)) == alice)
            #expect(raw.ttl == nil)
            #expect(try await store.rawElsewhere("hb:profile") == nil)
            #expect(try await store.raw("profile") == nil)

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

    @Test(arguments: PersistBackend.allCases) func createOnAnExistingKeyIsADuplicateAndChangesNothing(backend: PersistBackend) async throws {
        try await withStore(backend) { store in
            let driver = store.driver
            try await driver.create(key: "k", value: 1, expires: .seconds(600))
            await #expect(throws: PersistError.duplicate) {
                try await driver.create(key: "k", value: 2, expires: nil)
            }
            let stored = try #require(try await driver.getWithTTL(key: "k", as: Int.self))
            #expect(stored.object == 1)
            #expect(stored.ttl != nil, "the failed create must not have replaced the item")
        }
    }

    @Test(arguments: PersistBackend.allCases) func getWithTTLReportsTheRemainingTime(backend: PersistBackend) async throws {
        try await withStore(backend) { store in
            let driver = store.driver
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
    @Test(arguments: PersistBackend.allCases) func expiryAndSetWithoutExpirationKeepingIt(backend: PersistBackend) async throws {
        try await withStore(backend) { store in
            let driver = store.driver
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

            // memcached's clock ticks in whole seconds: a 1 s item is gone within 2 s (Redis: exactly 1 s).
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

    @Test(arguments: PersistBackend.allCases) func aValueOfAnotherTypeIsAnInvalidConversion(backend: PersistBackend) async throws {
        try await withStore(backend) { store in
            let driver = store.driver
            try await driver.set(key: "number", value: 42, expires: nil)
            await #expect(throws: PersistError.invalidConversion) { try await driver.get(key: "number", as: Profile.self) }
            await #expect(throws: PersistError.invalidConversion) { try await driver.get(key: "number", as: String.self) }
            await #expect(throws: PersistError.invalidConversion) { try await driver.getWithTTL(key: "number", as: [String].self) }
            #expect(try await driver.get(key: "number", as: Int.self) == 42)

            // Bytes that are not JSON at all (another program's item).
            try await store.rawSet("hb:foreign", [0xAC, 0xED, 0x00, 0x05])
            await #expect(throws: PersistError.invalidConversion) { try await driver.get(key: "foreign", as: String.self) }
        }
    }

    /// `run()` is a well-behaved service: it returns on graceful shutdown.
    @Test(.timeLimit(.minutes(1)), arguments: PersistBackend.allCases) func runReturnsOnGracefulShutdown(backend: PersistBackend) async throws {
        try await withStore(backend) { store in
            let driver = store.driver
            let app = Application(router: Router(), services: [driver])
            try await app.test(.live) { client in
                let response = try await client.execute(uri: "/", method: .get)
                #expect(response.status == .notFound)
            }
        }
    }

    /// hummingbird-auth's own session middleware, unchanged but for the driver: login stores the
    /// session in the store, later requests with the cookie see it, updates keep the expiry,
    /// logout deletes it.
    @Test(arguments: PersistBackend.allCases) func hummingbirdAuthSessionsEndToEnd(backend: PersistBackend) async throws {
        try await withStore(backend) { store in
            let driver = store.driver
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

                let stored = try #require(try await store.raw(sessionKey), "hummingbird-auth's key, under our prefix")
                #expect(stored.text == #"{"user":"alice"}"#)
                let ttl = try #require(stored.ttl)
                #expect(ttl > .seconds(590) && ttl <= .seconds(600))

                let me = try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie])
                #expect(me.status == .ok)
                #expect(String(buffer: me.body) == "alice")

                // updateSession without expiresIn: hummingbird-auth calls set(expires: nil).
                let rename = try await client.execute(uri: "/rename?user=bob", method: .post, headers: [.cookie: cookie])
                #expect(rename.status == .ok)
                #expect(rename.headers[.setCookie] == nil)
                let renamed = try #require(try await store.raw(sessionKey))
                #expect(renamed.text == #"{"user":"bob"}"#)
                #expect(renamed.ttl.map { $0 > .seconds(590) } == true, "the session's expiry survives an update")
                #expect(String(buffer: try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie]).body) == "bob")

                let logout = try await client.execute(uri: "/logout", method: .post, headers: [.cookie: cookie])
                #expect(logout.status == .ok)
                #expect(try await store.raw(sessionKey) == nil)
                #expect(try await client.execute(uri: "/me", method: .get, headers: [.cookie: cookie]).status == .unauthorized)

                // A forged cookie (too long for a memcached key, a miss on Redis) is no session.
                let forged = try await client.execute(
                    uri: "/me", method: .get, headers: [.cookie: "SESSION_ID=" + String(repeating: "A", count: 300)])
                #expect(forged.status == .unauthorized)
            }
        }
    }
}
