// The versioned binary envelope a session is stored in (memcached or Redis value).
//
// Pure Swift, no imports: bytes are `[UInt8]`.

/// What a stored session is: the state every app server needs, independent of any framework.
public struct SessionRecord: Sendable, Equatable {
    /// The session id's storage form (`"<random>-<nodeID>"`).
    ///
    /// The manager keeps ids to at most 256 bytes (they are also memcached keys). The envelope
    /// itself only requires a non-empty id of visible ASCII (0x21...0x7E) of at most 65535
    /// bytes; a record whose id is not like that encodes, but its bytes do not decode
    /// (``SessionEnvelopeError/Kind/corrupt``).
    public var id: String
    /// Milliseconds since the Unix epoch.
    public var creationTime: Int64
    /// Milliseconds since the Unix epoch.
    public var lastAccessedTime: Int64
    /// Seconds; 0 or less means the session never expires.
    public var maxInactiveInterval: Int32
    /// Attribute name -> its already-encoded value (JSON by default, encoded elsewhere).
    public var attributes: [String: [UInt8]]

    public init(
        id: String,
        creationTime: Int64,
        lastAccessedTime: Int64,
        maxInactiveInterval: Int32,
        attributes: [String: [UInt8]] = [:]
    ) {
        self.id = id
        self.creationTime = creationTime
        self.lastAccessedTime = lastAccessedTime
        self.maxInactiveInterval = maxInactiveInterval
        self.attributes = attributes
    }
}

/// Why stored bytes are not a session this version can read. Never thrown for valid input; never a trap.
public struct SessionEnvelopeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Not an envelope at all: shorter than the fixed header or without the magic
        /// (foreign data, e.g. a Java msm session or a plain string).
        case notAnEnvelope
        /// An envelope of a version this code cannot read (0, or newer than
        /// ``SessionEnvelope/currentVersion``).
        case unsupportedVersion(UInt8)
        /// A length (id, attribute count, name, value, or the checksum itself) runs past the
        /// end of the bytes.
        case truncated
        /// Checksum mismatch, trailing bytes, reserved flags set, an invalid id, or an
        /// attribute name that is not UTF-8 or is repeated.
        case corrupt
        /// More bytes than the caller's `maximumSize`.
        case tooLarge
    }

    public var kind: Kind
    public var detail: String

    public init(kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }

    public var description: String {
        let what: String
        switch kind {
        case .notAnEnvelope: what = "not a session envelope"
        case .unsupportedVersion(let version): what = "unsupported session envelope version \(version)"
        case .truncated: what = "truncated session envelope"
        case .corrupt: what = "corrupt session envelope"
        case .tooLarge: what = "session envelope too large"
        }
        return detail.isEmpty ? what : "\(what): \(detail)"
    }
}

/// The versioned binary envelope sessions are stored in.
///
/// ## Format, version 1
///
/// All integers are big-endian; signed integers are two's complement. Offsets in bytes.
///
/// ```
/// offset  size  field
///      0     4  magic: 0x4D 0x53 0x4D 0x53 ("MSMS")
///      4     1  version: u8, 1
///      5     1  flags: u8, reserved, must be 0
///      6     8  creationTime: i64, milliseconds since the Unix epoch
///     14     8  lastAccessedTime: i64, milliseconds since the Unix epoch
///     22     4  maxInactiveInterval: i32, seconds (0 or less: never expires)
///     26     2  idLength: u16 (>= 1)
///     28     n  id: idLength bytes of visible ASCII (0x21...0x7E)
///      .     4  attributeCount: u32
///             then attributeCount times, sorted by the name's UTF-8 bytes
///             (unsigned lexicographic order, shorter prefix first):
///      .     2    nameLength: u16
///      .     n    name: nameLength bytes of UTF-8 (may be empty)
///      .     4    valueLength: u32
///      .     n    value: valueLength bytes, opaque
///      .     4  crc: u32, CRC-32 (IEEE 802.3: reflected polynomial 0xEDB88320, initial value
///             and final xor 0xFFFFFFFF, the one zlib computes) of every byte before it
/// ```
///
/// The fixed header is the first 26 bytes (magic through maxInactiveInterval); the smallest
/// valid envelope (1-byte id, no attributes) is 37 bytes. The CRC is always the last 4 bytes:
/// nothing may follow it.
///
/// Because attributes are written in a fixed order, equal records (with names spelled in the
/// same Unicode code units) encode to identical bytes: the manager compares bytes to skip
/// writing unchanged sessions.
///
/// ## Decoding
///
/// ``decode(_:maximumSize:)`` never traps and never allocates more than a small multiple of
/// the input: every length is checked against the bytes remaining before anything is
/// allocated. Its checks, in order:
/// 1. more than `maximumSize` bytes: ``SessionEnvelopeError/Kind/tooLarge``;
/// 2. shorter than the fixed header, or wrong magic: ``SessionEnvelopeError/Kind/notAnEnvelope``;
/// 3. version 0 or newer than ``currentVersion``: ``SessionEnvelopeError/Kind/unsupportedVersion(_:)``
///    (checked before the CRC: a newer version may lay out or check its bytes differently);
/// 4. the structure is read up to the last 4 bytes: a length running into them is
///    ``SessionEnvelopeError/Kind/truncated``; reserved flags set, an empty or non-ASCII id,
///    a name that is not UTF-8, a name equal (as a Swift `String`, i.e. canonically
///    equivalent) to an earlier one, or bytes left between the last attribute and the CRC are
///    ``SessionEnvelopeError/Kind/corrupt``;
/// 5. a CRC mismatch is ``SessionEnvelopeError/Kind/corrupt``.
///
/// A valid envelope cut short anywhere at or after the fixed header therefore always reports
/// `truncated`. Attributes are accepted in any order, so decoding and re-encoding may
/// canonicalize (reorder) an envelope written by another encoder.
public enum SessionEnvelope {
    public static let currentVersion: UInt8 = 1
    public static let magic: [UInt8] = [0x4D, 0x53, 0x4D, 0x53]  // "MSMS"

    /// Bytes from the magic through maxInactiveInterval.
    static let fixedHeaderSize = 26
    static let crcSize = 4

    /// Encodes `record` in the current version.
    ///
    /// - Precondition: the id is at most 65535 UTF-8 bytes, every attribute name at most
    ///   65535 UTF-8 bytes, every value at most `UInt32.max` bytes, and there are at most
    ///   `UInt32.max` attributes (the sizes of the format's length fields).
    public static func encode(_ record: SessionRecord) -> [UInt8] {
        let idLength = record.id.utf8.count
        precondition(idLength <= Int(UInt16.max), "session id is \(idLength) bytes; the envelope holds at most 65535")
        precondition(record.attributes.count <= Int(UInt32.max), "too many session attributes")

        // Fixed order: by the names' UTF-8 bytes (not String's Unicode-aware `<`), so any
        // reader in any language can reproduce it.
        let sorted = record.attributes.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }

        var total = fixedHeaderSize + 2 + idLength + 4 + crcSize
        for (name, value) in sorted {
            let nameLength = name.utf8.count
            precondition(nameLength <= Int(UInt16.max), "session attribute name is \(nameLength) bytes; the envelope holds at most 65535")
            precondition(
                UInt64(value.count) <= UInt64(UInt32.max),
                "session attribute '\(name)' is \(value.count) bytes; the envelope holds at most 4294967295")
            total += 2 + nameLength + 4 + value.count
        }

        return [UInt8](unsafeUninitializedCapacity: total) { buffer, initializedCount in
            var writer = Writer(buffer: buffer)
            writer.write(magic)
            writer.write(currentVersion)
            writer.write(UInt8(0))  // flags
            writer.write(UInt64(bitPattern: record.creationTime))
            writer.write(UInt64(bitPattern: record.lastAccessedTime))
            writer.write(UInt32(bitPattern: record.maxInactiveInterval))
            writer.write(UInt16(truncatingIfNeeded: idLength))
            writer.write(record.id.utf8)
            writer.write(UInt32(truncatingIfNeeded: sorted.count))
            for (name, value) in sorted {
                writer.write(UInt16(truncatingIfNeeded: name.utf8.count))
                writer.write(name.utf8)
                writer.write(UInt32(truncatingIfNeeded: value.count))
                writer.write(value)
            }
            let crc = crc32(UnsafeBufferPointer(rebasing: buffer[0..<writer.position]))
            writer.write(crc)
            precondition(writer.position == total, "session envelope size miscalculated")
            initializedCount = writer.position
        }
    }

    /// Decodes bytes written by ``encode(_:)`` (of this or an earlier supported version).
    ///
    /// - Parameters:
    ///   - bytes: a stored session, as ``encode(_:)`` wrote it.
    ///   - maximumSize: inputs longer than this many bytes are rejected up front as
    ///     ``SessionEnvelopeError/Kind/tooLarge``.
    /// - Throws: ``SessionEnvelopeError`` when the bytes are not a session this version can
    ///   read; see the type's documentation for which kind when.
    public static func decode(_ bytes: [UInt8], maximumSize: Int = 16 << 20) throws(SessionEnvelopeError) -> SessionRecord {
        guard bytes.count <= maximumSize else {
            throw SessionEnvelopeError(kind: .tooLarge, detail: "\(bytes.count) bytes, limit \(maximumSize)")
        }
        guard bytes.count >= fixedHeaderSize else {
            throw SessionEnvelopeError(kind: .notAnEnvelope, detail: "\(bytes.count) bytes, shorter than the \(fixedHeaderSize)-byte header")
        }
        guard bytes[0] == magic[0], bytes[1] == magic[1], bytes[2] == magic[2], bytes[3] == magic[3] else {
            throw SessionEnvelopeError(kind: .notAnEnvelope, detail: "starts with \(hex(bytes[0..<4])), not the magic \(hex(magic[0...]))")
        }
        let version = bytes[4]
        guard version >= 1, version <= currentVersion else {
            throw SessionEnvelopeError(kind: .unsupportedVersion(version), detail: "this code reads versions 1 through \(currentVersion)")
        }

        // Everything up to the CRC; the fixed header is known to be present.
        let bodyEnd = bytes.count - crcSize
        var reader = Reader(bytes: bytes, position: 5, end: bodyEnd)

        let flags = try reader.readUInt8("flags")
        guard flags == 0 else {
            throw SessionEnvelopeError(kind: .corrupt, detail: "reserved flags are 0x\(hex(flags)), must be 0")
        }
        let creationTime = Int64(bitPattern: try reader.readUInt64("creation time"))
        let lastAccessedTime = Int64(bitPattern: try reader.readUInt64("last accessed time"))
        let maxInactiveInterval = Int32(bitPattern: try reader.readUInt32("max inactive interval"))

        let idLength = Int(try reader.readUInt16("id length"))
        let idRange = try reader.take(idLength, "id")
        guard idLength > 0 else {
            throw SessionEnvelopeError(kind: .corrupt, detail: "empty session id")
        }
        for index in idRange where !(0x21...0x7E).contains(bytes[index]) {
            throw SessionEnvelopeError(kind: .corrupt, detail: "session id byte 0x\(hex(bytes[index])) at offset \(index) is not visible ASCII")
        }
        // Visible ASCII is valid UTF-8: this never repairs anything.
        let id = String(decoding: bytes[idRange], as: UTF8.self)

        let count = length(try reader.readUInt32("attribute count"))
        // Each attribute takes at least its two length fields: a forged count cannot make us
        // reserve more than the input could hold.
        let minimumAttributeSize = 2 + 4
        guard count <= reader.remaining / minimumAttributeSize else {
            throw SessionEnvelopeError(
                kind: .truncated,
                detail:
                    "\(count) attributes need at least \(UInt64(count) * UInt64(minimumAttributeSize)) bytes, \(reader.remaining) remain at offset \(reader.position)"
            )
        }
        var attributes = [String: [UInt8]](minimumCapacity: count)
        for number in 0..<count {
            let nameStart = reader.position
            let nameLength = Int(try reader.readUInt16("attribute \(number) name length"))
            let nameRange = try reader.take(nameLength, "attribute \(number) name")
            guard let name = String(validating: bytes[nameRange], as: UTF8.self) else {
                throw SessionEnvelopeError(kind: .corrupt, detail: "attribute \(number) name at offset \(nameStart) is not valid UTF-8")
            }
            let valueLength = length(try reader.readUInt32("attribute '\(name)' value length"))
            let valueRange = try reader.take(valueLength, "attribute '\(name)' value")
            guard attributes.updateValue(Array(bytes[valueRange]), forKey: name) == nil else {
                throw SessionEnvelopeError(kind: .corrupt, detail: "attribute name '\(name)' at offset \(nameStart) repeats an earlier one")
            }
        }
        guard reader.remaining == 0 else {
            throw SessionEnvelopeError(
                kind: .corrupt,
                detail: "\(reader.remaining) unexpected bytes at offset \(reader.position), after the last attribute"
            )
        }

        let stored =
            UInt32(bytes[bodyEnd]) << 24 | UInt32(bytes[bodyEnd + 1]) << 16
            | UInt32(bytes[bodyEnd + 2]) << 8 | UInt32(bytes[bodyEnd + 3])
        let computed = bytes.withUnsafeBufferPointer { crc32(UnsafeBufferPointer(rebasing: $0[0..<bodyEnd])) }
        guard stored == computed else {
            throw SessionEnvelopeError(kind: .corrupt, detail: "CRC-32 is 0x\(hex(stored)), the bytes give 0x\(hex(computed))")
        }

        return SessionRecord(
            id: id,
            creationTime: creationTime,
            lastAccessedTime: lastAccessedTime,
            maxInactiveInterval: maxInactiveInterval,
            attributes: attributes
        )
    }
}

// MARK: - Reading and writing

extension SessionEnvelope {
    /// Writes big-endian fields into a buffer whose size was computed beforehand.
    private struct Writer {
        let buffer: UnsafeMutableBufferPointer<UInt8>
        var position = 0

        init(buffer: UnsafeMutableBufferPointer<UInt8>) {
            self.buffer = buffer
        }

        mutating func write(_ value: UInt8) {
            precondition(position < buffer.count)
            buffer.initializeElement(at: position, to: value)
            position += 1
        }

        mutating func write<I: FixedWidthInteger & UnsignedInteger>(_ value: I) {
            let size = I.bitWidth / 8
            precondition(size <= buffer.count - position)
            var shift = I.bitWidth - 8
            for offset in 0..<size {
                buffer.initializeElement(at: position + offset, to: UInt8(truncatingIfNeeded: value >> shift))
                shift -= 8
            }
            position += size
        }

        mutating func write(_ bytes: [UInt8]) {
            precondition(bytes.count <= buffer.count - position)
            let target = UnsafeMutableBufferPointer(rebasing: buffer[position..<(position + bytes.count)])
            let (_, written) = target.initialize(from: bytes)
            precondition(written == bytes.count)
            position += written
        }

        mutating func write(_ utf8: String.UTF8View) {
            precondition(utf8.count <= buffer.count - position)
            let target = UnsafeMutableBufferPointer(rebasing: buffer[position..<(position + utf8.count)])
            let (_, written) = target.initialize(from: utf8)
            precondition(written == utf8.count)
            position += written
        }
    }

    /// Reads big-endian fields from `bytes[position..<end]`, checking every length first.
    private struct Reader {
        let bytes: [UInt8]
        var position: Int
        let end: Int

        var remaining: Int { end - position }

        /// Consumes `count` bytes and returns their range, or throws `truncated`.
        mutating func take(_ count: Int, _ field: @autoclosure () -> String) throws(SessionEnvelopeError) -> Range<Int> {
            guard count <= remaining else {
                throw SessionEnvelopeError(
                    kind: .truncated,
                    detail: "\(field()) needs \(count) bytes at offset \(position), \(max(remaining, 0)) remain before the CRC"
                )
            }
            defer { position += count }
            return position..<(position + count)
        }

        mutating func readUInt8(_ field: @autoclosure () -> String) throws(SessionEnvelopeError) -> UInt8 {
            bytes[try take(1, field()).lowerBound]
        }

        mutating func readUInt16(_ field: @autoclosure () -> String) throws(SessionEnvelopeError) -> UInt16 {
            try readInteger(UInt16.self, field())
        }

        mutating func readUInt32(_ field: @autoclosure () -> String) throws(SessionEnvelopeError) -> UInt32 {
            try readInteger(UInt32.self, field())
        }

        mutating func readUInt64(_ field: @autoclosure () -> String) throws(SessionEnvelopeError) -> UInt64 {
            try readInteger(UInt64.self, field())
        }

        private mutating func readInteger<I: FixedWidthInteger & UnsignedInteger>(
            _: I.Type,
            _ field: @autoclosure () -> String
        ) throws(SessionEnvelopeError) -> I {
            var value: I = 0
            for index in try take(I.bitWidth / 8, field()) {
                value = value << 8 | I(bytes[index])
            }
            return value
        }
    }

    /// A u32 length as an `Int`; on 32-bit platforms one too large for `Int` becomes `Int.max`,
    /// which no input can hold (so it reports `truncated` instead of trapping).
    private static func length(_ value: UInt32) -> Int {
        Int(exactly: value) ?? Int.max
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0" + digits : digits
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: 8 - digits.count) + digits
    }

    private static func hex(_ bytes: ArraySlice<UInt8>) -> String {
        bytes.map { hex($0) }.joined(separator: " ")
    }
}

// MARK: - CRC-32

extension SessionEnvelope {
    /// Slicing-by-8 tables for the reflected IEEE polynomial 0xEDB88320: `crcTables[k * 256 + b]`
    /// is table k; table 0 is the classic byte-at-a-time table.
    static let crcTables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 {
                crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1
            }
            tables[byte] = crc
        }
        for table in 1..<8 {
            for byte in 0..<256 {
                let previous = tables[(table - 1) * 256 + byte]
                tables[table * 256 + byte] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    /// CRC-32 (IEEE 802.3, as zlib's `crc32`) of `bytes`.
    static func crc32(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        crcTables.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            var index = 0
            let count = bytes.count
            while count - index >= 8 {
                let one =
                    crc
                    ^ (UInt32(bytes[index]) | UInt32(bytes[index + 1]) << 8
                        | UInt32(bytes[index + 2]) << 16 | UInt32(bytes[index + 3]) << 24)
                let two =
                    UInt32(bytes[index + 4]) | UInt32(bytes[index + 5]) << 8
                    | UInt32(bytes[index + 6]) << 16 | UInt32(bytes[index + 7]) << 24
                crc =
                    table[7 * 256 + Int(one & 0xFF)] ^ table[6 * 256 + Int((one >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((one >> 16) & 0xFF)] ^ table[4 * 256 + Int(one >> 24)]
                    ^ table[3 * 256 + Int(two & 0xFF)] ^ table[2 * 256 + Int((two >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((two >> 16) & 0xFF)] ^ table[Int(two >> 24)]
                index += 8
            }
            while index < count {
                crc = table[Int((crc ^ UInt32(bytes[index])) & 0xFF)] ^ (crc >> 8)
                index += 1
            }
            return ~crc
        }
    }

    /// CRC-32 (IEEE 802.3, as zlib's `crc32`) of `bytes`.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { crc32($0) }
    }
}
