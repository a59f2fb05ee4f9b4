import Crypto
import Foundation
import ServerTestSupport
import SessionManager
import Testing

@testable import SessionCrypto

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
        #expect(sealed.count == Self.envelope.count + 38)
        #expect(!String(decoding: sealed, as: UTF8.self).contains("alice"))
        #expect(try keys.open(sealed, sessionID: "s3cr3t-session") == Self.envelope)
        // The same session sealed twice: different bytes (a new nonce), same content.
        #expect(keys.seal(Self.envelope, sessionID: "s3cr3t-session") != sealed)

        let moved = #expect(throws: SessionEncryptionError.self) { try keys.open(sealed, sessionID: "another-session") }
        #expect(moved?.kind == .authenticationFailed)
    }

    /// The documented format, opened with swift-crypto's AES-GCM directly, not our code.
    @Test func theFormatIsAsDocumented() throws {
        let sealed = try SessionEncryption(keys: [Self.new]).seal(Self.envelope, sessionID: "s3cr3t-session")
        #expect(Array(sealed[0..<6]) == Array("MSME".utf8) + [1, 1])
        let keyID = HMAC<SHA256>.authenticationCode(for: Array("msm session key id".utf8), using: Self.new.secret)
        #expect(Array(sealed[6..<10]) == Array(keyID.prefix(4)))
        let box = try AES.GCM.SealedBox(
            nonce: AES.GCM.Nonce(data: sealed[10..<22]), ciphertext: sealed[22..<(sealed.count - 16)], tag: sealed[(sealed.count - 16)...])
        let plain = try AES.GCM.open(box, using: Self.new.secret, authenticating: Array(sealed[0..<10]) + Array("s3cr3t-session".utf8))
        #expect([UInt8](plain) == Self.envelope)
    }

    /// Nonces never repeat: a per-process random part, then a counter.
    @Test func noncesAreUniqueAndCount() {
        let sequence = NonceSequence()
        let nonces = (0..<10_000).map { _ in sequence.next() }
        #expect(Set(nonces).count == nonces.count)
        #expect(Set(nonces.map { $0.prefix(8) }).count == 1, "one random part per process")
        #expect(nonces.first?.suffix(4) == [0, 0, 0, 1] && nonces.last?.suffix(4) == [0, 0, 0x27, 0x10])
        #expect(NonceSequence().next().prefix(8) != nonces[0].prefix(8), "each sequence draws its own random part")

        // At the counter's end the random part is drawn again and counting starts over.
        let wrapping = NonceSequence(counter: .max - 1)
        let last = wrapping.next()
        let first = wrapping.next()
        #expect(last.suffix(4) == [0xFF, 0xFF, 0xFF, 0xFF] && first.suffix(4) == [0, 0, 0, 1])
        #expect(last.prefix(8) != first.prefix(8), "a new random part after the wrap")
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
        var (opened, unchanged) = (0, 0)
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
            if bytes == sealed { unchanged += 1 }
            guard let envelope = try? keys.open(bytes, sessionID: "s3cr3t-session") else { continue }
            #expect(bytes == sealed, "round \(round): a changed blob opened")
            #expect(try SessionEnvelope.decode(envelope) == original)
            opened += 1
        }
        #expect(opened == unchanged, "exactly the unchanged blobs (a byte replaced by itself) open")
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
