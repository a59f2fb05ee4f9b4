/// A memcached key proven safe to put on the wire.
///
/// Keys reach the text protocol verbatim, so a space or a CR/LF inside one would let its author
/// inject a second command (a forged session cookie is exactly such an author). Every operation
/// therefore takes a `MemcachedKey`, and the only way to make one is through this validation.
public struct MemcachedKey: Sendable, Hashable, CustomStringConvertible {
    /// memcached's own limit on key length, in bytes.
    public static let maximumLength = 250

    /// The key's text, already validated.
    public let rawValue: String

    /// Validates `rawValue`: 1 to 250 bytes of UTF-8, none of them a space or a control character.
    /// - Throws: ``MemcachedError/Code/invalidKey`` naming the first problem found.
    public init(_ rawValue: String) throws(MemcachedError) {
        let utf8 = rawValue.utf8
        guard !utf8.isEmpty else {
            throw MemcachedError(.invalidKey, "the key is empty")
        }
        guard utf8.count <= Self.maximumLength else {
            throw MemcachedError(
                .invalidKey,
                "the key is \(utf8.count) bytes long, memcached accepts at most \(Self.maximumLength)"
            )
        }
        for (offset, byte) in utf8.enumerated() where byte <= 0x20 || byte == 0x7F {
            throw MemcachedError(
                .invalidKey,
                "the key contains \(Self.name(of: byte)) at byte \(offset); keys may not contain spaces or control characters"
            )
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    private static func name(of byte: UInt8) -> String {
        switch byte {
        case 0x20: return "a space"
        case 0x0D: return "a carriage return (CR)"
        case 0x0A: return "a line feed (LF)"
        case 0x00: return "a NUL byte"
        default: return "the control character 0x\(String(byte, radix: 16, uppercase: true))"
        }
    }
}
