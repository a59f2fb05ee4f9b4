/// Encrypts and authenticates every stored session (``SessionManagerConfiguration/encryption``).
///
/// The implementation is `SessionEncryption` (AES-256-GCM with a rotating key list) in the
/// `SessionCrypto` product, kept out of this module so an app that does not encrypt compiles no
/// cryptography library. Implement it yourself only to wrap another vetted AEAD: the manager
/// trusts whatever ``open(_:sessionID:)`` returns.
public protocol SessionCipher: Sendable, CustomStringConvertible {
    /// The bytes the store will hold for a plain envelope; `sessionID` is the id's random part
    /// (``SessionRecord/id``), which must be bound into the authentication so a blob moved under
    /// another id fails.
    func seal(_ envelope: [UInt8], sessionID: String) -> [UInt8]

    /// The plain envelope inside bytes read under `sessionID`.
    /// - Throws: ``SessionEncryptionError`` saying why, never quoting the bytes.
    func open(_ stored: [UInt8], sessionID: String) throws(SessionEncryptionError) -> [UInt8]

    /// Safe to log: names keys by id, never by value.
    var description: String { get }
}

/// How an encrypted session announces itself, so a manager without keys can say what it found.
public enum SessionCipherFormat {
    /// The first 4 bytes of every encrypted session: `MSME` (plain envelopes start `MSMS`).
    public static let encryptedMagic: [UInt8] = Array("MSME".utf8)

    /// Whether `bytes` start with ``encryptedMagic``.
    public static func isEncrypted(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 4 && bytes[0..<4].elementsEqual(encryptedMagic)
    }
}

/// Why a key list is unusable, or why a stored session does not open. Messages never quote a
/// key or the stored bytes.
public struct SessionEncryptionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Kind: String, Sendable, Equatable, CaseIterable {
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
