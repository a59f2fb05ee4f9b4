import Hummingbird
import HummingbirdAuth
import HummingbirdTesting
import MemcachedClient
import MemcachedPersistDriver
import ServerTestSupport
import Testing

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What only memcached needs: its key rules, enforced before any traffic.
@Suite(.serialized) struct MemcachedPersistDriverTests {
    private func withDriver(
        keyPrefix: String = MemcachedPersistDriver.defaultKeyPrefix,
        _ body: (MemcachedPersistDriver, MemcachedTestCluster) async throws -> Void
    ) async throws {
        try await MemcachedTestCluster.with(nodes: ["m1", "m2"]) { cluster in
            let driver = try MemcachedPersistDriver(client: cluster.makeClient("m2"), keyPrefix: keyPrefix)
            try await body(driver, cluster)
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
            let client = try cluster.makeClient("m1")
            for prefix in ["a b", "x\n", String(repeating: "p", count: 250)] {
                let error = #expect(throws: MemcachedError.self) { try MemcachedPersistDriver(client: client, keyPrefix: prefix) }
                #expect(error?.code == .invalidKey)
            }
            let unprefixed = try MemcachedPersistDriver(client: client, keyPrefix: "")
            try await unprefixed.set(key: "bare", value: true, expires: nil)
            #expect(try await cluster.rawGet("bare", on: "m1") != nil)
            await #expect(throws: MemcachedError.self) { try await unprefixed.get(key: "", as: Bool.self) }

        }
    }

}
