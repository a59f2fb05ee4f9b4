import Foundation
import ServerTestSupport
import SessionManagerTestSupport
import Testing

@testable import SessionManager

/// The sealed envelope alone: keys, rotation, and every way a stored blob can be wrong.
@Suite struct SessionEncryptionTests {
    static let old = SessionEncryption.Key.generate()
    static let new = SessionEncryption.Key.generate()
    static let envelope = SessionEnvelope.encode(
        SessionRecord(
            id: "s3cr3t-session", creationTime: 1, lastAccessedTime: 2, maxInactiveInterval: 60, attributes: ["user": Array(#""alice""#.utf8)]))

    @Test func aSealedSessionOpensOnlyUnderItsOwnIDAndHidesItsContent() throws {
        let keys = try SessionEncryption(keys: [Self.new])
        let sealed = keys.seal(Self.envelope, sessionID: "s3cr3t-session")
        #expect(sealed.starts(with: Array("MSME".utf8)))
        #expect(sealed.count == Self.envelope.count + 50)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("alice"))
        #expect(try keys.open(sealed, sessionID: "s3cr3t-session") == Self.envelope)
        // The same session sealed twice: different bytes (fresh salt), same content.
        #expect(keys.seal(Self.envelope, sessionID: "s3cr3t-session") != sealed)

        let moved = #expect(throws: SessionEncryptionError.self) { try keys.open(sealed, sessionID: "another-session") }
        #expect(moved?.kind == .authenticationFailed)
    }

    @Test func theFirstKeySealsAndEveryListedKeyOpens() throws {
        let serverA = try SessionEncryption(keys: [Self.new, Self.old])
        let serverB = try SessionEncryption(keys: [Self.old, Self.new])
        let fromA = serverA.seal(Self.envelope, sessionID: "id")
        let fromB = serverB.seal(Self.envelope, sessionID: "id")
        #expect(Array(fromA[6..<10]) == withUnsafeBytes(of: Self.new.id.bigEndian, Array.init))
        #expect(Array(fromB[6..<10]) == withUnsafeBytes(of: Self.old.id.bigEndian, Array.init))
        for keys in [serverA, serverB] {
            #expect(try keys.open(fromA, sessionID: "id") == Self.envelope)
            #expect(try keys.open(fromB, sessionID: "id") == Self.envelope)
        }
        // The old key retired: what it sealed no longer opens, and the error names it by id only.
        let retired = #expect(throws: SessionEncryptionError.self) { try SessionEncryption(keys: [Self.new]).open(fromB, sessionID: "id") }
        #expect(retired?.kind == .unknownKey)
        #expect(retired?.message.contains(Self.old.description) == true)
        #expect(retired?.message.contains(Self.old.base64EncodedSecret()) == false)
    }

    @Test func unencryptedIsReadOnlyWhileListedAndWrittenOnlyWhenFirst() throws {
        let key = try SessionEncryption([.key(Self.new)])
        let plain = #expect(throws: SessionEncryptionError.self) { try key.open(Self.envelope, sessionID: "s3cr3t-session") }
        #expect(plain?.kind == .unencrypted)

        let turningOn = try SessionEncryption([.unencrypted, .key(Self.new)])
        #expect(turningOn.seal(Self.envelope, sessionID: "s3cr3t-session") == Self.envelope)
        #expect(try turningOn.open(Self.envelope, sessionID: "s3cr3t-session") == Self.envelope)
        let on = try SessionEncryption([.key(Self.new), .unencrypted])
        let sealed = on.seal(Self.envelope, sessionID: "s3cr3t-session")
        #expect(try turningOn.open(sealed, sessionID: "s3cr3t-session") == Self.envelope)
        #expect(try on.open(Self.envelope, sessionID: "s3cr3t-session") == Self.envelope)
    }

    @Test func everyTamperedOrTruncatedBlobFails() throws {
        let keys = try SessionEncryption(keys: [Self.new, Self.old])
        let sealed = keys.seal(Self.envelope, sessionID: "s3cr3t-session")
        for index in sealed.indices {
            var tampered = sealed
            tampered[index] ^= 0x01
            #expect(throws: SessionEncryptionError.self, "bit flipped at \(index)") { try keys.open(tampered, sessionID: "s3cr3t-session") }
        }
        for length in 0..<sealed.count {
            #expect(throws: SessionEncryptionError.self, "cut to \(length)") { try keys.open(Array(sealed[..<length]), sessionID: "s3cr3t-session") }
        }
        #expect(throws: SessionEncryptionError.self) { try keys.open(sealed + [0], sessionID: "s3cr3t-session") }
    }

    /// Seeded random blobs and mutations of a real one, through open and then the envelope
    /// decoder: each either fails with a typed error or is the very session sealed.
    @Test func fuzzedBlobsNeverOpenAsAnythingButTheOriginal() throws {
        let keys = try SessionEncryption(keys: [Self.new])
        let sealed = keys.seal(Self.envelope, sessionID: "s3cr3t-session")
        let original = try SessionEnvelope.decode(Self.envelope)
        var generator = SplitMix64(seed: 0x5EA1_ED)
        var opened = 0
        for round in 0..<3000 {
            var bytes: [UInt8]
            switch round % 3 {
            case 0:
                bytes = Array("MSME".utf8) + [1, 1] + (0..<Int(generator.next() % 120)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            case 1:
                bytes = (0..<Int(generator.next() % 120)).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            default:
                bytes = sealed
                for _ in 0..<(1 + generator.next() % 3) {
                    let position = Int(generator.next() % UInt64(bytes.count))
                    switch generator.next() % 3 {
                    case 0: bytes[position] = UInt8(truncatingIfNeeded: generator.next())
                    case 1: bytes.insert(UInt8(truncatingIfNeeded: generator.next()), at: position)
                    default: bytes.remove(at: position)
                    }
                }
            }
            guard let envelope = try? keys.open(bytes, sessionID: "s3cr3t-session") else { continue }
            #expect(bytes == sealed, "round \(round): a changed blob opened")
            #expect(try SessionEnvelope.decode(envelope) == original)
            opened += 1
        }
        #expect(opened < 50, "only unchanged blobs (a byte replaced by itself) open")
    }

    @Test func keyListsParseAndRefuseWithoutQuotingKeys() throws {
        let parsed = try SessionEncryption(parsing: " \(Self.new.base64EncodedSecret()) , unencrypted,\(Self.old.base64EncodedSecret())")
        #expect(parsed.entries == [.key(Self.new), .unencrypted, .key(Self.old)])
        #expect(parsed.description == "\(Self.new), unencrypted, \(Self.old)")
        #expect(try SessionEncryption.Key(base64: Self.new.base64EncodedSecret()) == Self.new)

        let short = "c2hvcnQta2V5"  // "short-key"
        for (list, kind) in [
            ("", SessionEncryptionError.Kind.invalidKey), ("unencrypted", .invalidKeyList), (short, .invalidKey), ("not base64!", .invalidKey),
            ("\(Self.new.base64EncodedSecret()),\(Self.new.base64EncodedSecret())", .invalidKeyList),
            ("\(Self.new.base64EncodedSecret()),,", .invalidKey),
        ] {
            let error = #expect(throws: SessionEncryptionError.self, "\(list)") { try SessionEncryption(parsing: list) }
            #expect(error?.kind == kind, "\(list): \(String(describing: error))")
            #expect(error?.message.contains(short) == false)
            #expect(error?.message.contains(Self.new.base64EncodedSecret()) == false)
        }
    }

    @Test func keysNeverShowThemselves() {
        var dumped = ""
        dump(Self.new, to: &dumped)
        for shown in ["\(Self.new)", String(reflecting: Self.new), dumped, "\(SessionEncryption.Entry.key(Self.new))"] {
            #expect(!shown.contains(Self.new.base64EncodedSecret()), "\(shown)")
        }
        #expect(Self.new.description.hasPrefix("key "))
        #expect(Self.new.base64EncodedSecret().count == 44)
    }
}

/// Encrypted sessions through the manager on real stores: what the store holds, key rotation
/// across two app servers, and forged blobs written straight into the store.
@Suite(.serialized) struct EncryptedSessionStoreTests {
    static let old = SessionEncryption.Key.generate()
    static let new = SessionEncryption.Key.generate()

    @Test(arguments: StoreBackend.underTest)
    func theStoreHoldsOnlySealedSessions(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let server = try cluster.makeServer(sticky: false) { $0.encryption = try? SessionEncryption(keys: [Self.new]) }
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
            let a = try cluster.makeServer(route: "A", sticky: false) { $0.encryption = try? SessionEncryption(keys: [Self.new, Self.old]) }
            let b = try cluster.makeServer(route: "B", sticky: false) { $0.encryption = try? SessionEncryption(keys: [Self.old, Self.new]) }
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
            let c = try cluster.makeServer(route: "C", sticky: false) { $0.encryption = try? SessionEncryption(keys: [Self.new, Self.old]) }
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
            let sealing = try cluster.makeServer(sticky: false) { $0.encryption = try? SessionEncryption(keys: [Self.new]) }
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
