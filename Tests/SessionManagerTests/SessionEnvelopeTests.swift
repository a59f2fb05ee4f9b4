import ServerTestSupport
import Testing

@testable import SessionManager

@Suite struct SessionEnvelopeTests {
    // MARK: Golden vectors (a format change must fail here)

    /// id "abc-n1", created 1_700_000_000_000 ms, last accessed 1_700_000_060_000 ms,
    /// max inactive 1800 s, attributes "user" = `"bob"` and "n" = `1` (written "n" first).
    /// Cross-checked against an independent encoder (Python `struct` + `zlib.crc32`).
    static let goldenRecord = SessionRecord(
        id: "abc-n1",
        creationTime: 1_700_000_000_000,
        lastAccessedTime: 1_700_000_060_000,
        maxInactiveInterval: 1800,
        attributes: ["user": Array("\"bob\"".utf8), "n": Array("1".utf8)]
    )
    static let goldenBytes: [UInt8] = [
        0x4D, 0x53, 0x4D, 0x53,  // magic "MSMS"
        0x01,  // version
        0x00,  // flags
        0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00,  // creationTime 1_700_000_000_000
        0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE6, 0x52, 0x60,  // lastAccessedTime 1_700_000_060_000
        0x00, 0x00, 0x07, 0x08,  // maxInactiveInterval 1800
        0x00, 0x06, 0x61, 0x62, 0x63, 0x2D, 0x6E, 0x31,  // id "abc-n1"
        0x00, 0x00, 0x00, 0x02,  // attribute count
        0x00, 0x01, 0x6E,  // name "n"
        0x00, 0x00, 0x00, 0x01, 0x31,  // value "1"
        0x00, 0x04, 0x75, 0x73, 0x65, 0x72,  // name "user"
        0x00, 0x00, 0x00, 0x05, 0x22, 0x62, 0x6F, 0x62, 0x22,  // value "\"bob\""
        0x82, 0x81, 0x7F, 0x8B,  // CRC-32
    ]

    @Test func goldenVectorEncodes() {
        #expect(SessionEnvelope.encode(Self.goldenRecord) == Self.goldenBytes)
    }

    @Test func goldenVectorDecodes() throws {
        #expect(try SessionEnvelope.decode(Self.goldenBytes) == Self.goldenRecord)
    }

    @Test func minimalGoldenVectorWithNegativeNumbers() throws {
        let record = SessionRecord(id: "x", creationTime: -1, lastAccessedTime: 0, maxInactiveInterval: -1)
        let expected: [UInt8] = [
            0x4D, 0x53, 0x4D, 0x53, 0x01, 0x00,
            0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0xFF, 0xFF, 0xFF, 0xFF,
            0x00, 0x01, 0x78,
            0x00, 0x00, 0x00, 0x00,
            0x77, 0xC4, 0xF4, 0x34,
        ]
        #expect(SessionEnvelope.encode(record) == expected)
        #expect(try SessionEnvelope.decode(expected) == record)
    }

    @Test func encoderMatchesIndependentBuilder() {
        let record = SessionRecord(
            id: "Zq9-route_A",
            creationTime: .min,
            lastAccessedTime: .max,
            maxInactiveInterval: .max,
            attributes: ["b": [0, 255], "a": [], "cart": Array(repeating: 0xAB, count: 300)]
        )
        let expected = rawEnvelope(
            creationTime: .min, lastAccessedTime: .max, maxInactiveInterval: .max,
            id: Array("Zq9-route_A".utf8),
            attributes: [(utf8("a"), []), (utf8("b"), [0, 255]), (utf8("cart"), Array(repeating: 0xAB, count: 300))]
        )
        #expect(SessionEnvelope.encode(record) == expected)
    }

    // MARK: CRC-32

    @Test func crc32KnownVectors() {
        #expect(SessionEnvelope.crc32([]) == 0)
        #expect(SessionEnvelope.crc32(utf8("123456789")) == 0xCBF4_3926)
        #expect(SessionEnvelope.crc32(utf8("The quick brown fox jumps over the lazy dog")) == 0x414F_A339)
        #expect(SessionEnvelope.crc32([0x00]) == 0xD202_EF8D)
        #expect(SessionEnvelope.crc32(Array(repeating: 0xFF, count: 32)) == 0xFF6C_AB0B)
    }

    @Test func crc32MatchesBitwiseReferenceAtEveryLengthAndAlignment() {
        var random = SplitMix64(seed: 0xC3C3)
        let data = (0..<300).map { _ in UInt8.random(in: .min ... .max, using: &random) }
        for start in 0..<9 {
            for end in start...data.count {
                let slice = Array(data[start..<end])
                let fast = slice.withUnsafeBufferPointer { SessionEnvelope.crc32($0) }
                #expect(fast == referenceCRC32(slice), "bytes \(start)..<\(end)")
            }
        }
    }

    // MARK: Round trips

    @Test func roundTripEmptyAttributes() throws {
        let record = SessionRecord(id: "abc-n1", creationTime: 1, lastAccessedTime: 2, maxInactiveInterval: 0)
        let bytes = SessionEnvelope.encode(record)
        #expect(bytes.count == 26 + 2 + 6 + 4 + 4)
        #expect(try SessionEnvelope.decode(bytes) == record)
    }

    @Test func roundTripManyAttributesEmptyAndBinaryValues() throws {
        var attributes: [String: [UInt8]] = ["empty": [], "zeros": [0, 0, 0], "ones": [0xFF, 0xFF], "all": Array(0...255)]
        for index in 0..<1000 {
            attributes["attr\(index)"] = Array(utf8("{\"value\":\(index)}")) + [0x00, 0xFF, UInt8(index & 0xFF)]
        }
        let record = SessionRecord(
            id: "0123456789abcdef-node7",
            creationTime: 1_700_000_000_000,
            lastAccessedTime: 1_700_000_123_456,
            maxInactiveInterval: 1800,
            attributes: attributes
        )
        let decoded = try SessionEnvelope.decode(SessionEnvelope.encode(record))
        #expect(decoded == record)
        #expect(decoded.attributes.count == 1004)
        #expect(decoded.attributes["empty"] == [])
        #expect(decoded.attributes["all"] == Array(0...255))
    }

    @Test func roundTripUnicodeNamesKeepsTheirExactBytes() throws {
        // "e" + combining acute stays decomposed; "" and a NUL inside a name are valid UTF-8.
        let names = ["名前", "😀 emoji", "e\u{301}", "", "a\u{0}b", "Ωmega", "ü"]
        var attributes: [String: [UInt8]] = [:]
        for (index, name) in names.enumerated() {
            attributes[name] = [UInt8(index)]
        }
        let record = SessionRecord(id: "id-1", creationTime: 5, lastAccessedTime: 6, maxInactiveInterval: 7, attributes: attributes)
        let decoded = try SessionEnvelope.decode(SessionEnvelope.encode(record))
        #expect(decoded == record)
        let decodedNameBytes = Set(decoded.attributes.keys.map { Array($0.utf8) })
        #expect(decodedNameBytes == Set(names.map { Array($0.utf8) }))
    }

    @Test func roundTripMaximumishSizes() throws {
        let id = String(repeating: "a", count: 250) + "-node1"  // 256 bytes
        let longName = String(repeating: "n", count: Int(UInt16.max))
        let bigValue = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let record = SessionRecord(
            id: id,
            creationTime: .max,
            lastAccessedTime: .min,
            maxInactiveInterval: .min,
            attributes: [longName: bigValue, "small": [1]]
        )
        let bytes = SessionEnvelope.encode(record)
        #expect(bytes.count == 26 + 2 + 256 + 4 + (2 + 65535 + 4 + (1 << 20)) + (2 + 5 + 4 + 1) + 4)
        #expect(try SessionEnvelope.decode(bytes) == record)
        #expect(try SessionEnvelope.decode(bytes, maximumSize: bytes.count) == record)
    }

    @Test func roundTripTenThousandAttributes() throws {
        var attributes: [String: [UInt8]] = [:]
        for index in 0..<10_000 {
            attributes["k\(index)"] = [UInt8(truncatingIfNeeded: index)]
        }
        let record = SessionRecord(id: "many-n2", creationTime: 0, lastAccessedTime: 0, maxInactiveInterval: 60, attributes: attributes)
        #expect(try SessionEnvelope.decode(SessionEnvelope.encode(record)) == record)
    }

    @Test func reencodingADecodedEnvelopeGivesTheSameBytes() throws {
        let bytes = SessionEnvelope.encode(Self.goldenRecord)
        #expect(SessionEnvelope.encode(try SessionEnvelope.decode(bytes)) == bytes)
    }

    // MARK: Determinism

    @Test func encodingIgnoresDictionaryInsertionOrderAndCapacity() {
        let names = (0..<300).map { "attribute-\($0)" }
        var forward: [String: [UInt8]] = [:]
        for name in names {
            forward[name] = Array(name.utf8)
        }
        var backward = [String: [UInt8]](minimumCapacity: 4096)
        for name in names.reversed() {
            backward[name] = Array(name.utf8)
        }
        var shuffled: [String: [UInt8]] = [:]
        var random = SplitMix64(seed: 42)
        for name in names.shuffled(using: &random) {
            shuffled[name] = Array(name.utf8)
        }
        func record(_ attributes: [String: [UInt8]]) -> SessionRecord {
            SessionRecord(id: "same-n1", creationTime: 10, lastAccessedTime: 20, maxInactiveInterval: 30, attributes: attributes)
        }
        let expected = rawEnvelope(
            creationTime: 10, lastAccessedTime: 20, maxInactiveInterval: 30, id: utf8("same-n1"),
            attributes: names.map { utf8($0) }.sorted { $0.lexicographicallyPrecedes($1) }.map { ($0, $0) }
        )
        #expect(SessionEnvelope.encode(record(forward)) == expected)
        #expect(SessionEnvelope.encode(record(backward)) == expected)
        #expect(SessionEnvelope.encode(record(shuffled)) == expected)
    }

    @Test func attributesAreOrderedByTheirUTF8Bytes() {
        // Byte order, not String order: "e\u{301}" (65 CC 81) sorts before "f" (66) although
        // as a String it equals "é", which sorts after "f"; "" comes first.
        let record = SessionRecord(
            id: "order-n1", creationTime: 0, lastAccessedTime: 0, maxInactiveInterval: 0,
            attributes: ["f": [1], "e\u{301}": [2], "B": [3], "a": [4], "Z": [5], "": [6], "ü": [7]]
        )
        let expected = rawEnvelope(
            creationTime: 0, lastAccessedTime: 0, maxInactiveInterval: 0, id: utf8("order-n1"),
            attributes: [
                ([], [6]), (utf8("B"), [3]), (utf8("Z"), [5]), (utf8("a"), [4]),
                ([0x65, 0xCC, 0x81], [2]), (utf8("f"), [1]), ([0xC3, 0xBC], [7]),
            ]
        )
        #expect(SessionEnvelope.encode(record) == expected)
    }

    @Test func decoderAcceptsAttributesInAnyOrder() throws {
        let bytes = rawEnvelope(id: utf8("x-1"), attributes: [(utf8("z"), [1]), (utf8("a"), [2])])
        let decoded = try SessionEnvelope.decode(bytes)
        #expect(decoded.attributes == ["z": [1], "a": [2]])
        #expect(SessionEnvelope.encode(decoded) != bytes)  // canonicalized
    }

    // MARK: Foreign data

    @Test func wrongMagicIsNotAnEnvelope() {
        var bytes = Self.goldenBytes
        bytes[3] = 0x54  // "MSMT"
        #expect(decodeError(bytes)?.kind == .notAnEnvelope)
    }

    @Test func plainStringIsNotAnEnvelope() {
        #expect(decodeError(utf8("hello, this is a plain string and not a session at all"))?.kind == .notAnEnvelope)
        #expect(decodeError(utf8("{\"id\":\"abc\",\"attributes\":{}}"))?.kind == .notAnEnvelope)
    }

    @Test func javaSerializationIsNotAnEnvelope() {
        // java.io.ObjectOutputStream: STREAM_MAGIC 0xACED, STREAM_VERSION 5.
        let java: [UInt8] = [0xAC, 0xED, 0x00, 0x05, 0x73, 0x72] + Array(repeating: 0x41, count: 60)
        #expect(decodeError(java)?.kind == .notAnEnvelope)
        // Java msm's own envelope starts with u16 version 2 and a u16 header length.
        let javaMSM: [UInt8] = [0x00, 0x02, 0x00, 0x3A] + Array(repeating: 0x00, count: 80)
        #expect(decodeError(javaMSM)?.kind == .notAnEnvelope)
    }

    @Test func shorterThanTheFixedHeaderIsNotAnEnvelope() {
        #expect(decodeError([])?.kind == .notAnEnvelope)
        #expect(decodeError([0x4D, 0x53, 0x4D])?.kind == .notAnEnvelope)
        #expect(decodeError(Array(Self.goldenBytes[0..<25]))?.kind == .notAnEnvelope)
        #expect(decodeError(Array(Self.goldenBytes[0..<26]))?.kind == .truncated)
    }

    // MARK: Versions

    @Test(arguments: [UInt8(0), 2, 3, 0x7F, 0xFF])
    func unsupportedVersions(version: UInt8) {
        var bytes = Self.goldenBytes
        bytes[4] = version
        #expect(decodeError(bytes)?.kind == .unsupportedVersion(version))
        // Also with a CRC that is right for the changed bytes.
        let recomputed = rawEnvelope(version: version, id: utf8("v-1"), attributes: [])
        #expect(decodeError(recomputed)?.kind == .unsupportedVersion(version))
    }

    // MARK: Damage

    @Test func flippedByteAnywhereNeverDecodes() {
        let large = SessionRecord(
            id: "flip-n3", creationTime: 123, lastAccessedTime: 456, maxInactiveInterval: 789,
            attributes: ["a": [], "b": Array(0...40), "user": utf8("{\"name\":\"Zoë\"}"), "ü": [0xFF]]
        )
        for original in [Self.goldenBytes, SessionEnvelope.encode(large)] {
            for index in original.indices {
                for mask: UInt8 in [0x01, 0x80, 0xFF, 0x5A] {
                    var bytes = original
                    bytes[index] ^= mask
                    let kind = decodeError(bytes)?.kind
                    switch index {
                    case 0..<4:
                        #expect(kind == .notAnEnvelope, "byte \(index) ^ \(mask)")
                    case 4:
                        #expect(kind == .unsupportedVersion(bytes[4]), "byte \(index) ^ \(mask)")
                    default:
                        #expect(kind == .corrupt || kind == .truncated, "byte \(index) ^ \(mask): \(String(describing: kind))")
                    }
                }
            }
        }
    }

    @Test func truncatedAtEveryLengthThrows() {
        let record = SessionRecord(
            id: "cut-n1", creationTime: 1, lastAccessedTime: 2, maxInactiveInterval: 3,
            attributes: ["a": [], "bb": [1, 2, 3], "ccc": Array(repeating: 9, count: 20)]
        )
        for original in [Self.goldenBytes, SessionEnvelope.encode(record)] {
            for length in 0..<original.count {
                let kind = decodeError(Array(original[0..<length]))?.kind
                #expect(kind == (length < 26 ? .notAnEnvelope : .truncated), "length \(length) of \(original.count)")
            }
        }
    }

    @Test func trailingBytesAreCorrupt() {
        #expect(decodeError(Self.goldenBytes + [0])?.kind == .corrupt)
        #expect(decodeError(Self.goldenBytes + [0, 0, 0, 0])?.kind == .corrupt)
        #expect(decodeError(Self.goldenBytes + Self.goldenBytes)?.kind == .corrupt)
        // Trailing bytes with a CRC that is right for everything before it.
        var withGarbage = Array(Self.goldenBytes.dropLast(4)) + [0xDE, 0xAD]
        appendCRC(&withGarbage)
        #expect(decodeError(withGarbage)?.kind == .corrupt)
    }

    @Test func crcMismatchIsCorrupt() {
        var bytes = Self.goldenBytes
        bytes[bytes.count - 1] &+= 1
        #expect(decodeError(bytes)?.kind == .corrupt)
        var zeroed = Self.goldenBytes
        zeroed.replaceSubrange((zeroed.count - 4)..., with: [0, 0, 0, 0])
        #expect(decodeError(zeroed)?.kind == .corrupt)
        // A changed timestamp with the old CRC.
        var retimed = Self.goldenBytes
        retimed[13] = 0x01
        #expect(decodeError(retimed)?.kind == .corrupt)
    }

    @Test func forgedLengthsAreTruncatedWithoutAllocating() {
        for fixCRC in [true, false] {
            let count = rawEnvelope(id: utf8("f-1"), attributeCount: 0xFFFF_FFFF, attributes: [(utf8("a"), [1])], fixCRC: fixCRC)
            #expect(decodeError(count)?.kind == .truncated)
            let idLength = rawEnvelope(idLength: 0xFFFF, id: utf8("f-1"), attributes: [], fixCRC: fixCRC)
            #expect(decodeError(idLength)?.kind == .truncated)
            let nameLength = rawEnvelope(id: utf8("f-1"), attributes: [(utf8("a"), [1])], nameLengths: [0xFFFF], fixCRC: fixCRC)
            #expect(decodeError(nameLength)?.kind == .truncated)
            let valueLength = rawEnvelope(id: utf8("f-1"), attributes: [(utf8("a"), [1])], valueLengths: [0xFFFF_FFFF], fixCRC: fixCRC)
            #expect(decodeError(valueLength)?.kind == .truncated)
            // One more attribute announced than present.
            let oneMore = rawEnvelope(id: utf8("f-1"), attributeCount: 2, attributes: [(utf8("a"), [1])], fixCRC: fixCRC)
            #expect(decodeError(oneMore)?.kind == .truncated)
        }
    }

    @Test func fewerAttributesAnnouncedThanPresentIsCorrupt() {
        let bytes = rawEnvelope(id: utf8("f-1"), attributeCount: 1, attributes: [(utf8("a"), [1]), (utf8("b"), [2])])
        #expect(decodeError(bytes)?.kind == .corrupt)
    }

    @Test func duplicateNamesAreCorrupt() {
        let exact = rawEnvelope(id: utf8("d-1"), attributes: [(utf8("a"), [1]), (utf8("a"), [2])])
        #expect(decodeError(exact)?.kind == .corrupt)
        let emptyValues = rawEnvelope(id: utf8("d-1"), attributes: [(utf8("a"), []), (utf8("a"), [])])
        #expect(decodeError(emptyValues)?.kind == .corrupt)
        // Canonically equivalent names are one Swift String: "é" precomposed and decomposed.
        let equivalent = rawEnvelope(id: utf8("d-1"), attributes: [([0x65, 0xCC, 0x81], [1]), ([0xC3, 0xA9], [2])])
        #expect(decodeError(equivalent)?.kind == .corrupt)
    }

    @Test(arguments: [
        [UInt8(0xFF)],
        [0xC3],  // cut-off two-byte sequence
        [0x61, 0x80, 0x62],  // stray continuation byte
        [0xC0, 0x80],  // overlong NUL
        [0xED, 0xA0, 0x80],  // UTF-16 surrogate
        [0xF4, 0x90, 0x80, 0x80],  // beyond U+10FFFF
    ])
    func invalidUTF8NameIsCorrupt(name: [UInt8]) {
        let bytes = rawEnvelope(id: utf8("u-1"), attributes: [(utf8("ok"), [1]), (name, [2])])
        #expect(decodeError(bytes)?.kind == .corrupt)
    }

    @Test(arguments: [
        [UInt8](),
        [0x61, 0x20, 0x62],  // space
        [0x61, 0x09],  // tab
        [0x00],
        [0x7F],
        [0x61, 0xC3, 0xA9],  // "aé"
        [0xFF],
    ])
    func invalidIDIsCorrupt(id: [UInt8]) {
        #expect(decodeError(rawEnvelope(id: id, attributes: []))?.kind == .corrupt)
    }

    @Test func reservedFlagsMustBeZero() {
        #expect(decodeError(rawEnvelope(flags: 1, id: utf8("x-1"), attributes: []))?.kind == .corrupt)
        #expect(decodeError(rawEnvelope(flags: 0x80, id: utf8("x-1"), attributes: []))?.kind == .corrupt)
        #expect(throws: Never.self) { try SessionEnvelope.decode(rawEnvelope(flags: 0, id: utf8("x-1"), attributes: [])) }
    }

    // MARK: Size limit

    @Test func overMaximumSizeIsTooLarge() throws {
        let record = SessionRecord(
            id: "big-1", creationTime: 0, lastAccessedTime: 0, maxInactiveInterval: 0, attributes: ["v": Array(repeating: 7, count: 1000)])
        let bytes = SessionEnvelope.encode(record)
        #expect(decodeError(bytes, maximumSize: bytes.count - 1)?.kind == .tooLarge)
        #expect(try SessionEnvelope.decode(bytes, maximumSize: bytes.count) == record)
        #expect(decodeError(bytes, maximumSize: 0)?.kind == .tooLarge)
        // The default limit is 16 MiB, checked before anything else.
        #expect(decodeError(Array(repeating: 0, count: (16 << 20) + 1))?.kind == .tooLarge)
        #expect(decodeError(Array(repeating: 0, count: 16 << 20))?.kind == .notAnEnvelope)
    }

    @Test func errorsDescribeThemselves() {
        let error = decodeError(Self.goldenBytes + [1])
        #expect(error?.description.hasPrefix("corrupt session envelope: ") == true)
        #expect(error?.detail.isEmpty == false)
        var newer = Self.goldenBytes
        newer[4] = 9
        #expect(decodeError(newer)?.description.hasPrefix("unsupported session envelope version 9") == true)
    }

    // MARK: Fuzz

    @Test func seededFuzzOnlyDecodesOrThrows() throws {
        var random = SplitMix64(seed: 0x5E55_1011)
        var kinds: [String: Int] = [:]
        var recomputedSuccesses = 0
        for iteration in 0..<5000 {
            let original = SessionEnvelope.encode(randomRecord(using: &random))
            let strategy = iteration % 5
            var bytes: [UInt8]
            switch strategy {
            case 0:  // noise
                bytes = randomBytes(count: Int.random(in: 0...120, using: &random), using: &random)
            case 1:  // noise behind a valid magic and version
                bytes = [0x4D, 0x53, 0x4D, 0x53, 0x01] + randomBytes(count: Int.random(in: 0...120, using: &random), using: &random)
            case 2, 3:  // a real envelope, damaged
                bytes = mutate(original, using: &random)
            default:  // a real envelope, damaged, with the CRC made to match: reaches the structure checks
                bytes = mutate(Array(original.dropLast(4)), using: &random)
                appendCRC(&bytes)
            }
            let result: Result<SessionRecord, SessionEnvelopeError> = Result { () throws(SessionEnvelopeError) in
                try SessionEnvelope.decode(bytes)
            }
            switch result {
            case .success(let decoded):
                if strategy == 2 || strategy == 3 {
                    // Without a matching CRC, only the undamaged bytes may decode.
                    #expect(bytes == original, "iteration \(iteration) decoded damaged bytes")
                }
                if strategy == 4 { recomputedSuccesses += 1 }
                // Whatever decodes must survive its own round trip.
                #expect(try SessionEnvelope.decode(SessionEnvelope.encode(decoded)) == decoded, "iteration \(iteration)")
            case .failure(let error):
                let name: String
                switch error.kind {
                case .notAnEnvelope: name = "notAnEnvelope"
                case .unsupportedVersion: name = "unsupportedVersion"
                case .truncated: name = "truncated"
                case .corrupt: name = "corrupt"
                case .tooLarge: name = "tooLarge"
                }
                kinds[name, default: 0] += 1
                #expect(!error.detail.isEmpty)
            }
        }
        // The fuzzer must actually reach every decoding path.
        #expect(kinds["notAnEnvelope", default: 0] > 0)
        #expect(kinds["unsupportedVersion", default: 0] > 0)
        #expect(kinds["truncated", default: 0] > 0)
        #expect(kinds["corrupt", default: 0] > 0)
        #expect(recomputedSuccesses > 0)
    }
}

// MARK: - Helpers

private func utf8(_ string: String) -> [UInt8] {
    Array(string.utf8)
}

private func decodeError(_ bytes: [UInt8], maximumSize: Int = 16 << 20) -> SessionEnvelopeError? {
    do {
        _ = try SessionEnvelope.decode(bytes, maximumSize: maximumSize)
        return nil
    } catch {
        return error
    }
}

/// Bit-at-a-time CRC-32 (IEEE, reflected 0xEDB88320): independent of the envelope's tables.
private func referenceCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1)))
        }
    }
    return ~crc
}

private func appendBigEndian<I: FixedWidthInteger>(_ value: I, to bytes: inout [UInt8]) {
    for shift in stride(from: I.bitWidth - 8, through: 0, by: -8) {
        bytes.append(UInt8(truncatingIfNeeded: value >> shift))
    }
}

private func appendCRC(_ bytes: inout [UInt8]) {
    appendBigEndian(referenceCRC32(bytes), to: &bytes)
}

/// An independent version-1 envelope writer that can also write what the encoder never would.
private func rawEnvelope(
    version: UInt8 = 1,
    flags: UInt8 = 0,
    creationTime: Int64 = 1,
    lastAccessedTime: Int64 = 2,
    maxInactiveInterval: Int32 = 3,
    idLength: UInt16? = nil,
    id: [UInt8],
    attributeCount: UInt32? = nil,
    attributes: [([UInt8], [UInt8])],
    nameLengths: [UInt16?] = [],
    valueLengths: [UInt32?] = [],
    fixCRC: Bool = true
) -> [UInt8] {
    var bytes: [UInt8] = [0x4D, 0x53, 0x4D, 0x53, version, flags]
    appendBigEndian(creationTime, to: &bytes)
    appendBigEndian(lastAccessedTime, to: &bytes)
    appendBigEndian(maxInactiveInterval, to: &bytes)
    appendBigEndian(idLength ?? UInt16(id.count), to: &bytes)
    bytes += id
    appendBigEndian(attributeCount ?? UInt32(attributes.count), to: &bytes)
    for (index, (name, value)) in attributes.enumerated() {
        appendBigEndian((index < nameLengths.count ? nameLengths[index] : nil) ?? UInt16(name.count), to: &bytes)
        bytes += name
        appendBigEndian((index < valueLengths.count ? valueLengths[index] : nil) ?? UInt32(value.count), to: &bytes)
        bytes += value
    }
    if fixCRC {
        appendCRC(&bytes)
    } else {
        bytes += [0x12, 0x34, 0x56, 0x78]
    }
    return bytes
}

private func randomBytes(count: Int, using random: inout SplitMix64) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &random) }
}

private func randomRecord(using random: inout SplitMix64) -> SessionRecord {
    let idAlphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~!".utf8)
    let id = (0..<Int.random(in: 1...40, using: &random)).map { _ in idAlphabet.randomElement(using: &random)! }
    let namePool = ["user", "cart", "csrf", "", "名前", "e\u{301}", "😀", "a\u{0}b", "flash", "locale", "x"]
    var attributes: [String: [UInt8]] = [:]
    for _ in 0..<Int.random(in: 0...6, using: &random) {
        attributes[namePool.randomElement(using: &random)!] = randomBytes(count: Int.random(in: 0...40, using: &random), using: &random)
    }
    return SessionRecord(
        id: String(decoding: id, as: UTF8.self),
        creationTime: Int64.random(in: .min ... .max, using: &random),
        lastAccessedTime: Int64.random(in: .min ... .max, using: &random),
        maxInactiveInterval: Int32.random(in: .min ... .max, using: &random),
        attributes: attributes
    )
}

/// One to four random edits: flip, overwrite with an extreme value, insert, delete, truncate, extend.
private func mutate(_ original: [UInt8], using random: inout SplitMix64) -> [UInt8] {
    var bytes = original
    for _ in 0..<Int.random(in: 1...4, using: &random) {
        let index = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<6, using: &random) {
        case 0 where !bytes.isEmpty:
            bytes[index] ^= UInt8.random(in: 1 ... .max, using: &random)
        case 1 where !bytes.isEmpty:
            bytes[index] = [0x00, 0xFF, 0x7F, 0x80].randomElement(using: &random)!
        case 2:
            bytes.insert(UInt8.random(in: .min ... .max, using: &random), at: index)
        case 3 where !bytes.isEmpty:
            bytes.remove(at: index)
        case 4:
            bytes.removeLast(Int.random(in: 0...min(bytes.count, 8), using: &random))
        default:
            bytes += randomBytes(count: Int.random(in: 1...8, using: &random), using: &random)
        }
    }
    return bytes
}
