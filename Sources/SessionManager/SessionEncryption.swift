import Crypto
import Foundation

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
/// once its sessions have expired (``SessionManagerConfiguration/maxInactiveInterval``). During a
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
///      5     1  algorithm: 1 = AES-256-GCM, per-blob key and nonce by HKDF-SHA256
///      6     4  key id: the first 4 bytes of HMAC-SHA256(key, "msm session key id")
///     10    24  salt: random
///     34     n  ciphertext of the plain envelope (``SessionEnvelope``)
///    end-16 16  GCM tag
/// ```
/// The salt and the key give, by HKDF-SHA256 (info `"msm session blob v1"`), this blob's own
/// 256-bit key and 96-bit nonce, so no two blobs share a key and nonce however many are written
/// (GCM's limit of about 2^32 random nonces per key does not apply). The associated data is the
/// first 10 bytes and the session id, so a blob moved under another session's key fails.
public struct SessionEncryption: Sendable, Equatable, CustomStringConvertible {
    /// One 256-bit key; printing it shows only its id.
    public struct Key: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
        /// The key's bytes, for the cipher only.
        let secret: SymmetricKey
        /// What the envelope records to say which key sealed it: not secret (an HMAC of a constant under the key).
        public let id: UInt32

        /// Bytes in a key: AES-256.
        public static let byteCount = 32

        /// A key from exactly 32 random bytes.
        /// - Throws: ``SessionEncryptionError/Kind/invalidKey`` for any other length.
        public init(bytes: [UInt8]) throws(SessionEncryptionError) {
            guard bytes.count == Self.byteCount else {
                throw SessionEncryptionError(
                    .invalidKey,
                    "a session encryption key is \(Self.byteCount) bytes, this one is \(bytes.count); make one with `msm new-encryption-key`")
            }
            self.init(secret: SymmetricKey(data: bytes))
        }

        /// A key from its base64 text (standard alphabet, padded), as `msm new-encryption-key` prints it.
        /// - Throws: ``SessionEncryptionError/Kind/invalidKey``, without quoting the text.
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
    /// - Throws: ``SessionEncryptionError/Kind/invalidKeyList`` when it holds no key or an entry twice.
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
    /// - Throws: ``SessionEncryptionError`` naming the entry's position, never its text.
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

    static let magic: [UInt8] = Array("MSME".utf8)
    static let version: UInt8 = 1
    static let aes256GCM: UInt8 = 1
    static let headerSize = 10
    static let saltSize = 24
    static let tagSize = 16
    private static let blobInfo = Array("msm session blob v1".utf8)

    /// Whether these bytes are a sealed session (by their magic), for messages only.
    static func isSealed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0..<4].elementsEqual(magic)
    }

    /// The plain envelope as the store will hold it: sealed with the first key, or as it is when
    /// the first entry is ``Entry/unencrypted``.
    func seal(_ envelope: [UInt8], sessionID: String) -> [UInt8] {
        guard case .key(let key) = entries[0] else { return envelope }
        var header = Self.magic
        header.append(Self.version)
        header.append(Self.aes256GCM)
        header.append(contentsOf: withUnsafeBytes(of: key.id.bigEndian, Array.init))
        let salt = SymmetricKey(size: SymmetricKeySize(bitCount: Self.saltSize * 8)).withUnsafeBytes { [UInt8]($0) }
        let (blobKey, nonce) = Self.derive(key, salt: salt)
        do {
            let box = try AES.GCM.seal(envelope, using: blobKey, nonce: nonce, authenticating: header + Array(sessionID.utf8))
            var sealed = header
            sealed.reserveCapacity(Self.headerSize + Self.saltSize + envelope.count + Self.tagSize)
            sealed += salt
            sealed += box.ciphertext
            sealed += box.tag
            return sealed
        } catch {
            // Only a nonce of the wrong size makes GCM refuse, and ours is always 12 bytes.
            preconditionFailure("AES-GCM refused to seal a session: \(error)")
        }
    }

    /// The plain envelope inside `stored`, which was read under `sessionID`.
    /// - Throws: ``SessionEncryptionError`` saying why, never quoting the bytes.
    func open(_ stored: [UInt8], sessionID: String) throws(SessionEncryptionError) -> [UInt8] {
        guard Self.isSealed(stored) else {
            if entries.contains(.unencrypted) { return stored }
            throw SessionEncryptionError(
                .unencrypted,
                "the stored session is not encrypted (written before encryption was on, or by someone with access to the store); "
                    + "list `unencrypted` among the keys while turning encryption on")
        }
        guard stored.count >= Self.headerSize + Self.saltSize + Self.tagSize else {
            throw SessionEncryptionError(.truncated, "\(stored.count) bytes, shorter than an encrypted session can be")
        }
        guard stored[4] == Self.version, stored[5] == Self.aes256GCM else {
            throw SessionEncryptionError(.unsupportedFormat, "version \(stored[4]), algorithm \(stored[5]); this code reads version 1, algorithm 1")
        }
        let keyID = stored[6..<10].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let candidates = entries.compactMap { entry -> Key? in
            if case .key(let key) = entry, key.id == keyID { return key }
            return nil
        }
        guard !candidates.isEmpty else {
            throw SessionEncryptionError(
                .unknownKey, "sealed with \(Self.hex(keyID)), which is not in the key list (\(self)): a retired key, or another deployment's")
        }
        let salt = stored[Self.headerSize..<(Self.headerSize + Self.saltSize)]
        let ciphertext = stored[(Self.headerSize + Self.saltSize)..<(stored.count - Self.tagSize)]
        let tag = stored[(stored.count - Self.tagSize)...]
        let associatedData = Array(stored[0..<Self.headerSize]) + Array(sessionID.utf8)
        for key in candidates {
            let (blobKey, nonce) = Self.derive(key, salt: salt)
            guard let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag),
                let plain = try? AES.GCM.open(box, using: blobKey, authenticating: associatedData)
            else { continue }
            return [UInt8](plain)
        }
        throw SessionEncryptionError(
            .authenticationFailed,
            "the stored session fails authentication with \(Self.hex(keyID)): altered, cut, or stored under another session's id")
    }

    /// This blob's key and nonce, from the list's key and the blob's salt.
    private static func derive(_ key: Key, salt: some DataProtocol) -> (SymmetricKey, AES.GCM.Nonce) {
        let material = HKDF<SHA256>.deriveKey(inputKeyMaterial: key.secret, salt: salt, info: blobInfo, outputByteCount: 32 + 12)
        return material.withUnsafeBytes { bytes in
            let nonce: AES.GCM.Nonce
            do {
                nonce = try AES.GCM.Nonce(data: bytes[32..<44])
            } catch {
                preconditionFailure("a 12-byte GCM nonce was refused: \(error)")
            }
            return (SymmetricKey(data: bytes[0..<32]), nonce)
        }
    }

    static func hex(_ id: UInt32) -> String {
        let digits = String(id, radix: 16, uppercase: true)
        return "key " + String(repeating: "0", count: 8 - digits.count) + digits
    }
}

/// Why a key list is unusable, or why a stored session does not open. Messages never quote a
/// key or the stored bytes.
public struct SessionEncryptionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable, Equatable {
        /// Configuration: a key that is not 32 bytes of base64.
        case invalidKey
        /// Configuration: no key in the list, or an entry twice.
        case invalidKeyList
        /// A plain envelope where only encrypted ones are accepted.
        case unencrypted
        /// Shorter than the fixed parts of an encrypted session.
        case truncated
        /// A version or algorithm this code does not read.
        case unsupportedFormat
        /// Sealed with a key whose id is not in the list.
        case unknownKey
        /// The tag does not verify: altered, cut, or moved to another session's id.
        case authenticationFailed
        /// An encrypted session read by a manager without keys.
        case notConfigured
    }

    /// What went wrong.
    public var kind: Kind
    /// What happened and what to do, without secrets.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
