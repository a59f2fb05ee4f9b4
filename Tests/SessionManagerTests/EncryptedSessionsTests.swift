import Foundation
import ServerTestSupport
import SessionCrypto
import SessionManagerTestSupport
import Testing

@testable import SessionManager

/// Encrypted sessions through the manager on real stores: what the store holds, key rotation
/// across two app servers, and forged blobs written straight into the store.
@Suite(.serialized) struct EncryptedSessionStoreTests {
    static let old = SessionEncryption.Key.generate()
    static let new = SessionEncryption.Key.generate()

    /// A key list, built outside the non-throwing configuration closures (a `try?` there would
    /// silently leave encryption off).
    static func keys(_ keys: SessionEncryption.Key...) throws -> SessionEncryption {
        try SessionEncryption(keys: keys)
    }

    @Test(arguments: StoreBackend.underTest)
    func theStoreHoldsOnlySealedSessions(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let keys = try Self.keys(Self.new)
            let server = try cluster.makeServer(sticky: false) { $0.encryption = keys }
            var browser = Browser()
            _ = try await browser.request(server) { try $0.setAttribute("user", "alice@example.org") }
            let id = try #require(browser.id)
            for node in ["m1", "m2"] {
                let raw = try #require(try await cluster.rawGet(id.random, on: node), "primary and backup copy on \(node)")
                #expect(raw.starts(with: Array("MSME".utf8)))
                #expect(!String(decoding: raw, as: UTF8.self).contains("alice"))
            }
            #expect(try await browser.visit(server).visits == 1)
            #expect(try await browser.visit(server).visits == 2)
        }
    }

    /// A roll-out of a new key: A already seals with it, B still with the old one; both read
    /// both, and a browser alternating between them (non-sticky) is never logged out.
    @Test(arguments: StoreBackend.underTest)
    func keyRotationAcrossTwoServersLogsNobodyOut(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let (newFirst, oldFirst) = (try Self.keys(Self.new, Self.old), try Self.keys(Self.old, Self.new))
            let a = try cluster.makeServer(route: "A", sticky: false) { $0.encryption = newFirst }
            let b = try cluster.makeServer(route: "B", sticky: false) { $0.encryption = oldFirst }
            var browser = Browser()
            var sealedWith: Set<[UInt8]> = []
            for visit in 1...8 {
                let result = try await browser.visit(visit.isMultiple(of: 2) ? b : a)
                #expect(result.visits == visit, "visit \(visit) on \(visit.isMultiple(of: 2) ? "B" : "A")")
                let node = try #require(result.id.nodeID)
                let raw = try #require(try await cluster.rawGet(result.id.random, on: node))
                sealedWith.insert(Array(raw[6..<10]))
            }
            #expect(sealedWith.count == 2, "each server sealed with its own first key")

            // The roll-out done: both on the new key first; the session, last sealed by A
            // with it... but B's last write used the old key, which both still list.
            let c = try cluster.makeServer(route: "C", sticky: false) { $0.encryption = newFirst }
            #expect(try await browser.visit(c).visits == 9)
        }
    }

    /// Blobs written straight into the store by someone without the key: each gives a fresh
    /// session (never the forged attributes), a warning that names the reason and not the bytes.
    @Test(arguments: StoreBackend.underTest)
    func forgedBlobsGiveAFreshSession(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1"]) { cluster in
            let log = CapturedLog()
            var configuration = SessionManagerConfiguration()
            configuration.sticky = false
            configuration.encryption = try SessionEncryption(keys: [Self.new])
            if backend == .memory { configuration.clock = cluster.memoryClock }
            let server = try SessionManager(configuration: configuration, store: try cluster.makeTopology(), logger: log.logger())
            let foreign = try SessionEncryption(keys: [SessionEncryption.Key.generate()])

            var victim = Browser()
            #expect(try await victim.visit(server).visits == 1)
            let victimID = try #require(victim.id)
            let sealed = try #require(try await cluster.rawGet(victimID.random, on: "m1"))
            var other = Browser()
            _ = try await other.visit(server)
            let otherID = try #require(other.id)
            let otherSealed = try #require(try await cluster.rawGet(otherID.random, on: "m1"))
            let forgedPlain = SessionEnvelope.encode(
                SessionRecord(
                    id: victimID.random, creationTime: 0, lastAccessedTime: Int64(Date().timeIntervalSince1970 * 1000), maxInactiveInterval: 600,
                    attributes: ["visits": Array("1000".utf8)]))

            var flipped = sealed
            flipped[sealed.count / 2] ^= 0x40
            let forgeries: [(String, [UInt8], SessionEncryptionError.Kind)] = [
                ("tampered", flipped, .authenticationFailed),
                ("truncated", Array(sealed.prefix(sealed.count - 5)), .authenticationFailed),
                ("swapped", otherSealed, .authenticationFailed),
                ("foreign key", foreign.seal(forgedPlain, sessionID: victimID.random), .unknownKey),
                ("unencrypted", forgedPlain, .unencrypted),
            ]
            for (what, bytes, reason) in forgeries {
                try await cluster.rawSet(victimID.random, bytes, on: "m1")
                var browser = Browser(cookie: victim.cookie)
                let visit = try await browser.visit(server)
                #expect(visit.visits == 1, "\(what): a fresh session, not the forged or the old one")
                #expect(visit.id.random != victimID.random, "\(what)")
                let warning = log.lines.withLock { $0.last { $0.message.contains("does not open") } }
                #expect(warning?.metadata["reason"] == "\(reason.rawValue)", "\(what): \(String(describing: warning))")
                #expect(warning.map { "\($0.metadata)" }?.contains("1000") == false)
                log.lines.withLock { $0.removeAll() }
            }
        }
    }

    @Test func anEncryptedSessionReadWithoutKeysSaysSo() async throws {
        try await SessionTestCluster.with(backend: .memory, nodes: ["m1"]) { cluster in
            let keys = try Self.keys(Self.new)
            let sealing = try cluster.makeServer(sticky: false) { $0.encryption = keys }
            var browser = Browser()
            _ = try await browser.visit(sealing)
            let log = CapturedLog()
            var configuration = SessionManagerConfiguration()
            configuration.sticky = false
            configuration.clock = cluster.memoryClock
            let plain = try SessionManager(configuration: configuration, store: try cluster.makeTopology(), logger: log.logger())
            #expect(try await browser.visit(plain).visits == 1)
            #expect(log.lines.withLock { $0.contains { $0.metadata["reason"] == "notConfigured" } }, "\(log.messages)")
        }
    }
}
