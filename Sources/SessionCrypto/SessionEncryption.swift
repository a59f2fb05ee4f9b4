import Crypto
import Foundation
import SessionManager
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Authenticated encryption of every stored session: what sits in memcached or Redis can be
/// neither read nor forged without a key.
///
/// A session store has no access control worth the name (memcached none at all), and it holds
/// logins. With encryption configured, the manager seals each session envelope with AES-256-GCM
/// before it writes it and opens it after it reads it; a blob that fails authentication (tampered,
/// truncated, copied under another session's key, sealed with a key not in the list, or not
/// encrypted at all) is a fresh session, a warning without the blob's content and a count in
/// `session_decryption_failures_total`. Locks are not encrypted: they hold no user data.
///
/// ## Keys and rotation
/// The list is ordered: the **first** entry seals, **every** entry opens. Rotate without logging
/// anyone out: add the new key second on every server, then move it first, then drop the old one
/// once its sessions have expired (`SessionManagerConfiguration.maxInactiveInterval`). During a
/// roll-out, servers on `new,old` and servers on `old,new` read each other's sessions.
///
/// The entry ``Entry/unencrypted`` turns encryption on without a logout: first `unencrypted,KEY`
/// everywhere (plain writes, both read), then `KEY,unencrypted`, then `KEY` alone. While it is in
/// the list, anyone who can write to the store can still plant a plain session: drop it soon.
///
/// ```swift
/// var configuration = SessionManagerConfiguration()
/// configuration.encryption = try SessionEncryption(parsing: "t2Zq...=,9xQm...=")  // new, old
/// ```
///
/// ## Format
/// ```
/// offset  size  field
///      0     4  magic: "MSME"
///      4     1  version: 1
///      5     1  algorithm: 1 = AES-256-GCM
///      6     4  key id: the first 4 bytes of HMAC-SHA256(key, "msm session key id")
///     10    12  nonce
///     22     n  ciphertext of the plain envelope (`SessionEnvelope`)
///    end-16 16  GCM tag
/// ```
/// The associated data is the first 10 bytes and the session id, so a blob moved under another
/// session's key fails. Nonces are 8 random bytes drawn per process (again after a `fork` and
/// every 2^32 nonces) followed by a 32-bit counter: unique however many sessions are written,
/// where 12 random bytes per blob would reach GCM's limit (about 2^32 per key) within days on a
/// busy site, and cheaper than a random draw per blob (a system call each).
public struct SessionEncryption: SessionCipher, Equatable {
    /// One 256-bit key; printing it shows only its id.
    public struct Key: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        /// The key's bytes, for the cipher only.
        let secret: SymmetricKey
        /// What the envelope records to say which key sealed it: not secret (an HMAC of a constant under the key).
        public let id: UInt32

        /// Bytes in a key: AES-256.
        public static let byteCount = 32

        /// A key from exactly 32 random bytes.
        /// - Throws: `SessionEncryptionError.Kind.invalidKey` for any other length.
        public init(bytes: [UInt8]) throws(SessionEncryptionError) {
            guard bytes.count == Self.byteCount else {
                throw SessionEncryptionError(
                    .invalidKey,
                    "a session encryption key is \(Self.byteCount) bytes, this one is \(bytes.count); make one with `msm new-encryption-key`")
            }
            self.init(secret: SymmetricKey(data: bytes))
        }

        /// A key from its base64 text (standard alphabet, padded), as `msm new-encryption-key` prints it.
        /// - Throws: `SessionEncryptionError.Kind.invalidKey`, without quoting the text.
        public init(base64: String) throws(SessionEncryptionError) {
            guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespaces)) else {
                throw SessionEncryptionError(
                    .invalidKey, "a session encryption key is not valid base64 (\(base64.count) characters); make one with `msm new-encryption-key`")
            }
            try self.init(bytes: [UInt8](data))
        }

        private init(secret: SymmetricKey) {
            self.secret = secret
            let code = HMAC<SHA256>.authenticationCode(for: Array("msm session key id".utf8), using: secret)
            self.id = code.withUnsafeBytes { bytes in bytes.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
        }

        public static func == (left: Key, right: Key) -> Bool {
            left.secret == right.secret
        }

        /// A new random key (the system's secure random source).
        public static func generate() -> Key {
            Key(secret: SymmetricKey(size: .bits256))
        }

        /// The key as base64, to store in a secret manager: never log it.
        public func base64EncodedSecret() -> String {
            secret.withUnsafeBytes { Data($0).base64EncodedString() }
        }

        /// `key 1A2B3C4D`: the id only.
        public var description: String { SessionEncryption.hex(id) }
        /// The id only, so `debugPrint` cannot leak the key.
        public var debugDescription: String { description }
        /// No children, so `dump` and debuggers cannot leak the key.
        public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
    }

    /// One entry of the key list.
    public enum Entry: Sendable, Equatable, CustomStringConvertible {
        /// A key: seals when first, opens always.
        case key(Key)
        /// Plain envelopes: written when first, read while listed (for turning encryption on).
        case unencrypted

        public var description: String {
            switch self {
            case .key(let key): key.description
            case .unencrypted: "unencrypted"
            }
        }
    }

    /// The list, the sealing entry first.
    public let entries: [Entry]

    /// A key list; the first entry seals.
    /// - Throws: `SessionEncryptionError.Kind.invalidKeyList` when it holds no key or an entry twice.
    public init(_ entries: [Entry]) throws(SessionEncryptionError) {
        guard entries.contains(where: { if case .key = $0 { true } else { false } }) else {
            throw SessionEncryptionError(.invalidKeyList, "the session encryption key list holds no key; make one with `msm new-encryption-key`")
        }
        for (index, entry) in entries.enumerated() where entries[..<index].contains(entry) {
            throw SessionEncryptionError(.invalidKeyList, "the session encryption key list names \(entry) twice")
        }
        self.entries = entries
    }

    /// Keys only; the first seals.
    public init(keys: [Key]) throws(SessionEncryptionError) {
        try self.init(keys.map(Entry.key))
    }

    /// Parses `KEY[,KEY...]`: base64 keys separated by commas (spaces around them ignored), any of
    /// them may be the word `unencrypted`. This is the syntax of `msm serve --session-encryption-keys`.
    /// - Throws: `SessionEncryptionError` naming the entry's position, never its text.
    public init(parsing list: String) throws(SessionEncryptionError) {
        var entries: [Entry] = []
        for (index, item) in list.split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            let text = item.trimmingCharacters(in: .whitespaces)
            if text == "unencrypted" {
                entries.append(.unencrypted)
                continue
            }
            do throws(SessionEncryptionError) {
                entries.append(.key(try Key(base64: text)))
            } catch {
                throw SessionEncryptionError(error.kind, "entry \(index + 1) of the key list: \(error.message)")
            }
        }
        try self.init(entries)
    }

    /// `key 1A2B3C4D, key 5E6F7A8B`: ids only, safe to log.
    public var description: String {
        entries.map(\.description).joined(separator: ", ")
    }

    // MARK: Sealing and opening

    static let version: UInt8 = 1
    static let aes256GCM: UInt8 = 1
    static let headerSize = 10
    static let nonceSize = 12
    static let tagSize = 16
    /// Where every nonce of this process comes from.
    static let nonces = NonceSequence()

    /// The plain envelope as the store will hold it: sealed with the first key, or as it is when
    /// the first entry is ``Entry/unencrypted``. The manager calls this on every store write; it is
    /// public for tools that write sessions themselves.
    /// - Parameters:
    ///   - envelope: the plain envelope (`SessionEnvelope.encode`).
    ///   - sessionID: the session id's random part (`SessionRecord.id`), bound into the tag.
    public func seal(_ envelope: [UInt8], sessionID: String) -> [UInt8] {
        guard case .key(let key) = entries[0] else { return envelope }
        var associatedData = SessionCipherFormat.encryptedMagic
        associatedData.reserveCapacity(Self.headerSize + sessionID.utf8.count)
        associatedData.append(Self.version)
        associatedData.append(Self.aes256GCM)
        associatedData.append(contentsOf: [
            UInt8(key.id >> 24), UInt8(truncatingIfNeeded: key.id >> 16), UInt8(truncatingIfNeeded: key.id >> 8), UInt8(truncatingIfNeeded: key.id),
        ])
        var sealed = associatedData
        associatedData.append(contentsOf: sessionID.utf8)
        do {
            let box = try AES.GCM.seal(envelope, using: key.secret, nonce: AES.GCM.Nonce(data: Self.nonces.next()), authenticating: associatedData)
            // `combined` is nonce, ciphertext and tag: the rest of the format, in one copy.
            guard let combined = box.combined else { preconditionFailure("a 12-byte nonce always has a combined form") }
            sealed.reserveCapacity(Self.headerSize + combined.count)
            sealed += combined
            return sealed
        } catch {
            // Only a nonce of the wrong size makes GCM refuse, and ours is always 12 bytes.
            preconditionFailure("AES-GCM refused to seal a session: \(error)")
        }
    }

    /// The plain envelope inside `stored`, which was read under `sessionID` (the id's random part).
    /// - Throws: `SessionEncryptionError` saying why, never quoting the bytes.
    public func open(_ stored: [UInt8], sessionID: String) throws(SessionEncryptionError) -> [UInt8] {
        guard SessionCipherFormat.isEncrypted(stored) else {
            if entries.contains(.unencrypted) { return stored }
            throw SessionEncryptionError(
                .unencrypted,
                "the stored session is not encrypted (written before encryption was on, or by someone with access to the store); "
                    + "list `unencrypted` among the keys while turning encryption on")
        }
        guard stored.count >= Self.headerSize + Self.nonceSize + Self.tagSize else {
            throw SessionEncryptionError(.truncated, "\(stored.count) bytes, shorter than an encrypted session can be")
        }
        guard stored[4] == Self.version, stored[5] == Self.aes256GCM else {
            throw SessionEncryptionError(.unsupportedFormat, "version \(stored[4]), algorithm \(stored[5]); this code reads version 1, algorithm 1")
        }
        let keyID = stored[6..<10].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard entries.contains(where: { if case .key(let key) = $0 { key.id == keyID } else { false } }) else {
            throw SessionEncryptionError(
                .unknownKey, "sealed with \(Self.hex(keyID)), which is not in the key list (\(self)): a retired key, or another deployment's")
        }
        var associatedData = Array(stored[0..<Self.headerSize])
        associatedData.append(contentsOf: sessionID.utf8)
        // Nonce, ciphertext and tag follow the header in GCM's combined layout.
        guard let box = try? AES.GCM.SealedBox(combined: stored[Self.headerSize...]) else {
            throw SessionEncryptionError(.truncated, "the nonce or tag cannot be read")
        }
        // Ids are 4 bytes: two listed keys may share one, so each key with the id is tried.
        for case .key(let key) in entries where key.id == keyID {
            guard let plain = try? AES.GCM.open(box, using: key.secret, authenticating: associatedData) else { continue }
            return [UInt8](plain)
        }
        throw SessionEncryptionError(
            .authenticationFailed,
            "the stored session fails authentication with \(Self.hex(keyID)): altered, cut, or stored under another session's id")
    }

    static func hex(_ id: UInt32) -> String {
        let digits = String(id, radix: 16, uppercase: true)
        return "key " + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// GCM nonces unique per process: 8 random bytes, then a 32-bit counter. The random part is drawn
/// again when the counter wraps and in a forked child (whose counter would otherwise repeat the
/// parent's), so two processes share a nonce only if they draw the same 64 random bits. (A child
/// forked while another thread held the lock would wait on it forever, as with any lock: fork a
/// server only to exec. A process restored from a memory snapshot repeats nonces: do not
/// snapshot a running server and resume it twice.)
final class NonceSequence: Sendable {
    private struct State {
        var prefix: UInt64 = 0
        var counter: UInt32 = .max
        var forkGeneration: UInt64 = 0
    }

    private let state: Mutex<State>

    /// A sequence; `counter` other than `.max` (draw at once) is for tests of the wrap.
    init(counter: UInt32 = .max) {
        ForkGeneration.watch()
        state = Mutex(State(prefix: 0, counter: counter, forkGeneration: ForkGeneration.current))
    }

    /// The next 12-byte nonce.
    func next() -> [UInt8] {
        let generation = ForkGeneration.current
        let (prefix, counter) = state.withLock { state -> (UInt64, UInt32) in
            if state.forkGeneration != generation || state.counter == .max {
                var random = SystemRandomNumberGenerator()
                state = State(prefix: random.next(), counter: 0, forkGeneration: generation)
            }
            state.counter += 1
            return (state.prefix, state.counter)
        }
        return [UInt8](unsafeUninitializedCapacity: 12) { buffer, count in
            for index in 0..<8 { buffer[index] = UInt8(truncatingIfNeeded: prefix >> (56 - 8 * UInt64(index))) }
            for index in 0..<4 { buffer[8 + index] = UInt8(truncatingIfNeeded: counter >> (24 - 8 * UInt32(index))) }
            count = 12
        }
    }
}

/// Counts forks into child processes (`pthread_atfork`), so a nonce sequence notices it runs in a
/// copy of its process without a `getpid()` system call per nonce.
enum ForkGeneration {
    private static let generation = Atomic<UInt64>(0)
    /// The fork handler, registered once per process (a `static let` initializes exactly once).
    private static let registration: Void = {
        pthread_atfork(nil, nil) { ForkGeneration.generation.add(1, ordering: .releasing) }
    }()

    static var current: UInt64 { generation.load(ordering: .acquiring) }

    /// Registers the fork handler, once per process.
    static func watch() {
        registration
    }
}
