import Hummingbird
import NIOCore
import RedisClient
import RedisPersistDriver
import ServerTestSupport
import Testing

/// What only Redis offers: binary-safe keys, millisecond expirations, atomic keep-the-TTL updates.
@Suite(.serialized) struct RedisPersistDriverTests {
    @Test func anyKeyWorksVerbatimAndExpirationsAreMilliseconds() async throws {
        try await withRedisServer { server in
            let client = try RedisClient(server: RedisServer(url: "redis://\(server.endpoint)"))
            defer { Task { await client.shutdown() } }
            let driver = RedisPersistDriver(client: client)
            let raw = client
            for key in ["has space", "line\r\nbreak", "nul\u{0}", String(repeating: "k", count: 1000)] {
                try await driver.set(key: key, value: key.count, expires: nil)
                #expect(try await driver.get(key: key, as: Int.self) == key.count)
                #expect(try await raw.get("hb:" + key) != nil, "keys are stored verbatim, never rewritten")
            }

            try await driver.set(key: "short", value: 1, expires: .milliseconds(300))
            try await driver.set(key: "short", value: 2, expires: nil)  // KEEPTTL
            let kept = try #require(try await driver.getWithTTL(key: "short", as: Int.self))
            #expect(kept.object == 2)
            #expect(kept.ttl.map { $0 <= .milliseconds(300) } == true)
            try await Task.sleep(for: .milliseconds(500))
            #expect(try await driver.get(key: "short", as: Int.self) == nil)

            // Zero or negative: expired at once, as with the memory driver.
            try await driver.set(key: "gone", value: 1, expires: nil)
            try await driver.set(key: "gone", value: 2, expires: .zero)
            #expect(try await driver.get(key: "gone", as: Int.self) == nil)
            try await driver.create(key: "never-there", value: 1, expires: .seconds(-1))
            #expect(try await driver.get(key: "never-there", as: Int.self) == nil)
        }
    }
}
