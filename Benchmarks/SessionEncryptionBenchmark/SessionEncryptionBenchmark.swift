import Crypto
import Foundation
import SessionCrypto
import SessionManager

// What encrypting stored sessions costs on the CPU, beside the work the manager does without it:
// a 1 KB session's envelope encoded and decoded (what every store write and load does anyway),
// then the same with AES-256-GCM sealing and opening, and swift-crypto's seal alone (the floor).
// One thread, no sockets: the cipher's own cost per session write and load, which
// `make bench-http` then shows per request.
//
//   swift run -c release SessionEncryptionBenchmark [--iterations N] [--bytes B]

@main
struct SessionEncryptionBenchmark {
    static func main() throws {
        var iterations = 200_000
        var bytes = 1024
        var arguments = CommandLine.arguments.dropFirst().makeIterator()
        while let flag = arguments.next() {
            switch flag {
            case "--iterations": iterations = Int(arguments.next() ?? "") ?? iterations
            case "--bytes": bytes = Int(arguments.next() ?? "") ?? bytes
            default:
                print("usage: SessionEncryptionBenchmark [--iterations N] [--bytes B]")
                return
            }
        }
        let record = SessionRecord(
            id: "6F1D0C5B2A9E4F7781C3D2E5A4B6F708", creationTime: 1_700_000_000_000, lastAccessedTime: 1_700_000_100_000,
            maxInactiveInterval: 1800,
            attributes: ["visits": Array("42".utf8), "blob": Array(("\"" + String(repeating: "x", count: bytes) + "\"").utf8)])
        let encryption = try SessionEncryption(keys: [SessionEncryption.Key.generate()])
        let envelope = SessionEnvelope.encode(record)
        let sealed = encryption.seal(envelope, sessionID: record.id)
        FileHandle.standardError.write(Data("session of \(envelope.count) bytes (\(sealed.count) sealed), \(iterations) iterations per row\n".utf8))

        func measure(_ body: () throws -> Int) rethrows -> Double {
            var sink = 0
            for _ in 0..<(iterations / 10) { sink &+= try body() }  // warm-up
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<iterations { sink &+= try body() }
            let elapsed = clock.now - start
            let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
            if sink == 42 { print("") }  // keeps the work from being optimized away
            return nanoseconds / Double(iterations)
        }

        let encode = measure { SessionEnvelope.encode(record).count }
        let encodeSeal = measure { encryption.seal(SessionEnvelope.encode(record), sessionID: record.id).count }
        let decode = try measure { try SessionEnvelope.decode(envelope).attributes.count }
        let openDecode = try measure { try SessionEnvelope.decode(encryption.open(sealed, sessionID: record.id)).attributes.count }

        // The floor under the seal: swift-crypto's own call on the same bytes, our nonce and copies left out.
        let key = SymmetricKey(size: .bits256)
        let nonce = AES.GCM.Nonce()
        let associatedData = Array(sealed[0..<10]) + Array(record.id.utf8)
        let gcmAlone = try measure { try AES.GCM.seal(envelope, using: key, nonce: nonce, authenticating: associatedData).tag.count }

        print("| per session | plain (µs) | encrypted (µs) | added (µs) |")
        print("|---|--:|--:|--:|")
        for (what, plain, encrypted) in [("store write: encode (+ seal)", encode, encodeSeal), ("load: (open +) decode", decode, openDecode)] {
            print("| \(what) | \(format(plain)) | \(format(encrypted)) | \(format(encrypted - plain)) |")
        }
        print("| swift-crypto AES.GCM.seal alone, same bytes | | \(format(gcmAlone)) | |")
    }

    static func format(_ nanoseconds: Double) -> String {
        String(format: "%.2f", nanoseconds / 1000)
    }
}
