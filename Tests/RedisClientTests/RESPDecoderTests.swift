import NIOCore
import NIOTestUtils
import ServerTestSupport
import Testing

@testable import RedisClient

@Suite struct RESPDecoderTests {
    private static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    private static let wellFormed: [(String, RESPValue)] = [
        // RESP2
        ("+OK\r\n", .simpleString("OK")),
        ("+\r\n", .simpleString("")),
        ("-ERR unknown command 'FOO'\r\n", .error(RESPError(code: "ERR", message: "unknown command 'FOO'"))),
        (
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            .error(RESPError(code: "WRONGTYPE", message: "Operation against a key holding the wrong kind of value"))
        ),
        ("-NOAUTH Authentication required.\r\n", .error(RESPError(code: "NOAUTH", message: "Authentication required."))),
        (
            "-LOADING Redis is loading the dataset in memory\r\n",
            .error(RESPError(code: "LOADING", message: "Redis is loading the dataset in memory"))
        ),
        ("-MOVED 3999 127.0.0.1:6381\r\n", .error(RESPError(code: "MOVED", message: "3999 127.0.0.1:6381"))),
        ("-BUSY\r\n", .error(RESPError(code: "BUSY", message: ""))),
        (":0\r\n", .integer(0)),
        (":-2\r\n", .integer(-2)),
        (":+7\r\n", .integer(7)),
        (":9223372036854775807\r\n", .integer(.max)),
        (":-9223372036854775808\r\n", .integer(.min)),
        ("$5\r\nhello\r\n", bulk("hello")),
        ("$0\r\n\r\n", bulk("")),
        // A bulk string is framed by its length only: CRLF and type bytes inside are data.
        ("$12\r\n+OK\r\n$-1\r\n:1\r\n", bulk("+OK\r\n$-1\r\n:1")),
        ("$-1\r\n", .bulkString(nil)),
        ("*-1\r\n", .array(nil)),
        ("*0\r\n", .array([])),
        ("*3\r\n:1\r\n$3\r\nfoo\r\n+bar\r\n", .array([.integer(1), bulk("foo"), .simpleString("bar")])),
        ("*2\r\n*2\r\n:1\r\n*0\r\n*1\r\n$-1\r\n", .array([.array([.integer(1), .array([])]), .array([.bulkString(nil)])])),
        ("*2\r\n-ERR inner\r\n*-1\r\n", .array([.error(RESPError(code: "ERR", message: "inner")), .array(nil)])),
        // RESP3
        ("_\r\n", .null),
        (",3.25\r\n", .double(3.25)),
        (",-1.5e3\r\n", .double(-1500)),
        (",10\r\n", .double(10)),
        (",inf\r\n", .double(.infinity)),
        (",-inf\r\n", .double(-.infinity)),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber("3492890328409238509324850943850943825024385")),
        ("(-12\r\n", .bigNumber("-12")),
        ("!21\r\nSYNTAX invalid syntax\r\n", .error(RESPError(code: "SYNTAX", message: "invalid syntax"))),
        ("=15\r\ntxt:Some string\r\n", .verbatimString(format: "txt", text: ByteBuffer(string: "Some string"))),
        ("=4\r\nmkd:\r\n", .verbatimString(format: "mkd", text: ByteBuffer())),
        ("%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n#f\r\n", .map([(.simpleString("first"), .integer(1)), (bulk("second"), .boolean(false))])),
        ("%0\r\n", .map([])),
        ("%1\r\n*1\r\n:1\r\n%1\r\n_\r\n~0\r\n", .map([(.array([.integer(1)]), .map([(.null, .set([]))]))])),
        ("~3\r\n+a\r\n:2\r\n,0.5\r\n", .set([.simpleString("a"), .integer(2), .double(0.5)])),
        (">3\r\n+message\r\n+channel\r\n$2\r\nhi\r\n", .push([.simpleString("message"), .simpleString("channel"), bulk("hi")])),
        // Attributes are skipped, before a top-level reply and before an element.
        ("|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2\r\n:3\r\n", .array([.integer(2), .integer(3)])),
        ("|0\r\n|1\r\n+ttl\r\n:3\r\n+OK\r\n", .simpleString("OK")),
        ("*2\r\n:1\r\n|1\r\n+a\r\n+b\r\n:2\r\n", .array([.integer(1), .integer(2)])),
    ]

    @Test(arguments: 0..<wellFormed.count)
    func decodesEachValueKind(index: Int) throws {
        let (text, expected) = Self.wellFormed[index]
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: text)
        #expect(try decoder.decode(buffer: &buffer) == expected)
        #expect(buffer.readableBytes == 0)
    }

    @Test func decodesAPipelinedStreamUnderEverySplit() throws {
        let stream = Self.wellFormed.map(\.0).joined()
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [(stream, Self.wellFormed.map(\.1))],
            decoderFactory: { RESPDecoder() }
        )
    }

    @Test func decodesNotANumber() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: ",nan\r\n")
        guard case .double(let value) = try decoder.decode(buffer: &buffer) else {
            Issue.record("not a double")
            return
        }
        #expect(value.isNaN)
    }

    @Test func nullFormsAreNull() {
        #expect(RESPValue.null.isNull)
        #expect(RESPValue.bulkString(nil).isNull)
        #expect(RESPValue.array(nil).isNull)
        #expect(!RESPValue.bulkString(ByteBuffer()).isNull)
        #expect(!RESPValue.array([]).isNull)
    }

    @Test func mapsCompareByPairsInOrder() {
        let map = RESPValue.map([(.integer(1), .integer(2)), (.integer(3), .integer(4))])
        #expect(map == .map([(.integer(1), .integer(2)), (.integer(3), .integer(4))]))
        #expect(map != .map([(.integer(3), .integer(4)), (.integer(1), .integer(2))]))
        #expect(map != .map([(.integer(1), .integer(2))]))
        #expect(map != .array([.integer(1), .integer(2), .integer(3), .integer(4)]))
    }

    @Test func errorCodeIsTheFirstWord() {
        let error = RESPError(parsing: "WRONGPASS invalid username-password pair or user is disabled.")
        #expect(error.code == "WRONGPASS")
        #expect(error.message == "invalid username-password pair or user is disabled.")
        #expect(error.description == "WRONGPASS invalid username-password pair or user is disabled.")
        #expect(RESPError(parsing: "NOSCRIPT").description == "NOSCRIPT")
    }

    /// Every strict prefix of a value is incomplete: nothing is returned and nothing consumed.
    @Test(arguments: 0..<wellFormed.count)
    func consumesNothingUntilTheWholeValueIsBuffered(index: Int) throws {
        let bytes = Array(Self.wellFormed[index].0.utf8)
        for length in 0..<bytes.count {
            var decoder = RESPDecoder()
            var buffer = ByteBuffer(bytes: bytes[0..<length])
            #expect(try decoder.decode(buffer: &buffer) == nil, "prefix of \(length) bytes")
            #expect(buffer.readableBytes == length)
        }
    }

    @Test func waitsAcrossReadsThenDecodesInOrder() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "*2\r\n$10\r\n01234")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString("56789\r\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString(":5\r")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString("\n+OK\r\n")
        #expect(try decoder.decode(buffer: &buffer) == .array([Self.bulk("0123456789"), .integer(5)]))
        #expect(try decoder.decode(buffer: &buffer) == .simpleString("OK"))
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test(arguments: [
        "?\r\n",  // unknown type byte
        "\r\n",  // no type byte
        "OK\r\n",
        "+OK\n",  // bare LF
        "+OK\rX\r\n",  // CR without LF
        "+OK\n\r\n",
        ":\r\n", ":abc\r\n", ":1.5\r\n", ":-\r\n", ":+\r\n", ": 1\r\n", ":1 \r\n",
        ":9223372036854775808\r\n", ":-9223372036854775809\r\n", ":99999999999999999999\r\n",
        "$\r\n", "$-2\r\n", "$-0\r\n", "$+1\r\na\r\n", "$abc\r\n", "$1\r\nab\r\n", "$3\r\nab\r\n\r\n", "$2\r\nab\n\r\n",
        "*\r\n", "*-2\r\n", "*1x\r\n", "*1\r\n?\r\n", "*2\r\n:1\r\n:x\r\n",
        "_x\r\n", "#\r\n", "#x\r\n", "#tt\r\n", "#T\r\n",
        ",\r\n", ",abc\r\n", ",1e\r\n", ",0x1p3\r\n", ",infinity\r\n", ",1.2.3\r\n", ", 1\r\n",
        "(\r\n", "(-\r\n", "(12a\r\n", "(1.5\r\n",
        "!-1\r\n", "!x\r\n", "!3\r\nERR\n\r\n",
        "=-1\r\n", "=3\r\ntxt\r\n", "=5\r\ntxt-x\r\n", "=4\r\ntxt:x\r\n",
        "%-1\r\n", "%1\r\n:1\r\n?\r\n", "~-1\r\n", ">-1\r\n", "|-1\r\n", "|1\r\n:1\r\n?\r\n",
        "$?\r\n", "*?\r\n",  // RESP3 streamed types, which Redis does not send
    ])
    func rejectsMalformedInput(input: String) {
        #expect(throws: RESPDecodingError.self) { try Self.decodeAll(ByteBuffer(string: input)) }
    }

    // MARK: - Limits

    @Test func acceptsTheMaximumDepthAndRejectsOneMore() throws {
        let leaf = ":1\r\n"
        let deepest = String(repeating: "*1\r\n", count: 64) + leaf
        var buffer = ByteBuffer(string: deepest)
        var decoder = RESPDecoder()
        var expected = RESPValue.integer(1)
        for _ in 0..<64 { expected = .array([expected]) }
        #expect(try decoder.decode(buffer: &buffer) == expected)

        // Rejected as soon as the 65th header arrives, before any leaf.
        let tooDeep = String(repeating: "*1\r\n", count: 65)
        #expect(throws: RESPDecodingError.self) { try Self.decodeAll(ByteBuffer(string: tooDeep)) }
        // Every aggregate type counts, attributes included.
        let mixed = String(repeating: "%1\r\n+k\r\n", count: 32) + String(repeating: "|1\r\n+k\r\n", count: 32) + "~1\r\n"
        #expect(throws: RESPDecodingError.self) { try Self.decodeAll(ByteBuffer(string: mixed)) }
    }

    @Test func configuredDepthIsEnforced() throws {
        var decoder = RESPDecoder(maximumDepth: 2)
        var ok = ByteBuffer(string: "*1\r\n*1\r\n:1\r\n")
        #expect(try decoder.decode(buffer: &ok) == .array([.array([.integer(1)])]))
        var tooDeep = ByteBuffer(string: "*1\r\n*1\r\n*1\r\n:1\r\n")
        #expect(throws: RESPDecodingError.self) { try decoder.decode(buffer: &tooDeep) }
    }

    @Test(arguments: [
        "*4294967295\r\n", "~4294967295\r\n", ">4294967295\r\n", "%4294967295\r\n", "|4294967295\r\n", "*9223372036854775807\r\n",
        "%4611686018427387904\r\n",
    ])
    func rejectsAForgedAggregateCountBeforeItsElements(header: String) {
        #expect(throws: RESPDecodingError.self) { try Self.decodeAll(ByteBuffer(string: header)) }
    }

    @Test func aggregateCountLimitCountsMapPairsTwice() throws {
        var decoder = RESPDecoder(maximumAggregateCount: 4)
        var array = ByteBuffer(string: "*4\r\n_\r\n_\r\n_\r\n_\r\n")
        #expect(try decoder.decode(buffer: &array) == .array([.null, .null, .null, .null]))
        var map = ByteBuffer(string: "%2\r\n_\r\n_\r\n_\r\n_\r\n")
        #expect(try decoder.decode(buffer: &map) == .map([(.null, .null), (.null, .null)]))
        var tooMany = ByteBuffer(string: "*5\r\n")
        #expect(throws: RESPDecodingError.self) { try decoder.decode(buffer: &tooMany) }
        var tooManyPairs = ByteBuffer(string: "%3\r\n")
        #expect(throws: RESPDecodingError.self) { try decoder.decode(buffer: &tooManyPairs) }
    }

    /// A large count within the limit waits for its elements instead of allocating for them.
    @Test func aLargeAnnouncedCountWaitsForItsElements() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "*1048576\r\n:1\r\n:2\r\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 18)
    }

    @Test(arguments: ["$999999999999\r\n", "$536870913\r\n", "!536870913\r\n", "=536870913\r\n", "$99999999999999999999\r\n"])
    func rejectsABulkLengthOverTheLimitBeforeItsBody(header: String) {
        #expect(throws: RESPDecodingError.self) { try Self.decodeAll(ByteBuffer(string: header)) }
    }

    @Test func acceptsABulkLengthAtTheLimit() throws {
        var decoder = RESPDecoder()
        var buffer = ByteBuffer(string: "$536870912\r\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)

        var small = RESPDecoder(maximumBulkLength: 4)
        var atLimit = ByteBuffer(string: "$4\r\nabcd\r\n")
        #expect(try small.decode(buffer: &atLimit) == Self.bulk("abcd"))
        var overLimit = ByteBuffer(string: "$5\r\n")
        #expect(throws: RESPDecodingError.self) { try small.decode(buffer: &overLimit) }
    }

    @Test func lineLengthLimit() throws {
        var decoder = RESPDecoder(maximumLineLength: 8)
        var atLimit = ByteBuffer(string: "+12345678\r\n")
        #expect(try decoder.decode(buffer: &atLimit) == .simpleString("12345678"))
        // Without a terminator, 8 bytes may still be a line; the 9th proves it is too long.
        var pending = ByteBuffer(string: "+12345678")
        #expect(try decoder.decode(buffer: &pending) == nil)
        var overLimit = ByteBuffer(string: "+123456789")
        #expect(throws: RESPDecodingError.self) { try decoder.decode(buffer: &overLimit) }
        var overLimitTerminated = ByteBuffer(string: "-123456789\r\n")
        #expect(throws: RESPDecodingError.self) { try decoder.decode(buffer: &overLimitTerminated) }

        let endless = ByteBuffer(repeating: UInt8(ascii: "A"), count: 64 * 1024 + 1)
        var defaultDecoder = RESPDecoder()
        var endlessLine = ByteBuffer(string: "+")
        endlessLine.writeImmutableBuffer(endless)
        #expect(throws: RESPDecodingError.self) { try defaultDecoder.decode(buffer: &endlessLine) }
    }

    // MARK: - Fuzz

    /// Random bytes, random RESP-alphabet soup and mutated valid streams, fed in random splits:
    /// the decoder must only return values or throw ``RESPDecodingError``, and must consume
    /// nothing when it returns `nil`.
    @Test func survivesRandomAndMutatedInput() {
        let valid = Array(Self.wellFormed.map(\.0).joined().utf8)
        let alphabet = Array("+-:$*_,#(!=%~>|0123456789-1\r\n\r\nabtfinx.e".utf8)
        let inputs = DecoderFuzzing.inputs(valid: valid, alphabet: alphabet, rounds: 3000, seed: 0x5EED_2ED1)
        let outcome = DecoderFuzzing.run(inputs, seed: 0x5EED_2ED2, decodingError: RESPDecodingError.self) {
            RESPDecoder(maximumBulkLength: 1 << 16, maximumAggregateCount: 1 << 12, maximumDepth: 8)
        }
        #expect(outcome.foreignErrors.isEmpty, "\(outcome.foreignErrors.prefix(3))")
        #expect(outcome.consumedWithoutValue.isEmpty, "consumed bytes of an incomplete value in rounds \(outcome.consumedWithoutValue.prefix(5))")
        #expect(outcome.valueWithoutConsuming.isEmpty)
        // The corpus must exercise both outcomes, or the fuzz proves nothing.
        #expect(outcome.decoded > 1000)
        #expect(outcome.thrown > 500)
    }

    /// Random value trees, serialized, attributes sprinkled in, fed in random splits: each decodes
    /// back to the value it came from.
    @Test func roundTripsRandomValueTrees() throws {
        var generator = SplitMix64(seed: 0xD0_0D1E)
        for round in 0..<500 {
            let values = (0..<(1 + Int(generator.next() % 4))).map { _ in Self.randomValue(&generator, depth: 0) }
            var bytes: [UInt8] = []
            for value in values { Self.serialize(value, into: &bytes, generator: &generator) }
            var decoder = RESPDecoder()
            var buffer = ByteBuffer()
            var decoded: [RESPValue] = []
            var offset = 0
            while offset < bytes.count {
                let chunk = min(bytes.count - offset, 1 + Int(generator.next() % 32))
                buffer.writeBytes(bytes[offset..<(offset + chunk)])
                offset += chunk
                while let value = try decoder.decode(buffer: &buffer) { decoded.append(value) }
            }
            #expect(decoded == values, "round \(round)")
            #expect(buffer.readableBytes == 0)
        }
    }

    // MARK: - Helpers

    private static func decodeAll(_ input: ByteBuffer) throws {
        var decoder = RESPDecoder()
        var buffer = input
        while try decoder.decode(buffer: &buffer) != nil {}
    }

    private static func randomValue(_ generator: inout SplitMix64, depth: Int) -> RESPValue {
        let kinds: UInt64 = depth < 4 ? 15 : 10
        func bytes(_ generator: inout SplitMix64) -> ByteBuffer {
            ByteBuffer(bytes: (0..<Int(generator.next() % 12)).map { _ in UInt8(truncatingIfNeeded: generator.next()) })
        }
        func children(_ generator: inout SplitMix64) -> [RESPValue] {
            (0..<Int(generator.next() % 4)).map { _ in randomValue(&generator, depth: depth + 1) }
        }
        switch generator.next() % kinds {
        case 0: return .simpleString(String(repeating: "s", count: Int(generator.next() % 5)))
        case 1: return .error(RESPError(code: "ERR", message: generator.next().isMultiple(of: 2) ? "" : "bad thing"))
        case 2: return .integer(Int64(bitPattern: generator.next()))
        case 3: return .bulkString(generator.next().isMultiple(of: 5) ? nil : bytes(&generator))
        case 4: return .null
        case 5: return .double(Double(Int64(bitPattern: generator.next() % 2_000_001) - 1_000_000) / 64)
        case 6: return .boolean(generator.next().isMultiple(of: 2))
        case 7: return .bigNumber("-" + String(generator.next()) + String(generator.next()))
        case 8: return .verbatimString(format: "txt", text: bytes(&generator))
        case 9: return .array(nil)
        case 10: return .array(children(&generator))
        case 11: return .set(children(&generator))
        case 12: return .push(children(&generator))
        default:
            return .map(
                (0..<Int(generator.next() % 3)).map { _ in
                    (randomValue(&generator, depth: depth + 1), randomValue(&generator, depth: depth + 1))
                })
        }
    }

    /// A test-side RESP writer, independent of the decoder, that also inserts attributes to skip.
    private static func serialize(_ value: RESPValue, into bytes: inout [UInt8], generator: inout SplitMix64) {
        func line(_ type: Character, _ text: String) { bytes += Array("\(type)\(text)\r\n".utf8) }
        func body(_ buffer: ByteBuffer) { bytes += Array(buffer.readableBytesView) + Array("\r\n".utf8) }
        if generator.next() % 8 == 0 { bytes += Array("|1\r\n+origin\r\n:1\r\n".utf8) }
        switch value {
        case .simpleString(let text): line("+", text)
        case .error(let error): line("-", error.description)
        case .integer(let integer): line(":", String(integer))
        case .bulkString(nil): line("$", "-1")
        case .bulkString(let buffer?):
            line("$", String(buffer.readableBytes))
            body(buffer)
        case .array(nil): line("*", "-1")
        case .array(let elements?):
            line("*", String(elements.count))
            for element in elements { serialize(element, into: &bytes, generator: &generator) }
        case .null: line("_", "")
        case .double(let double): line(",", "\(double)")
        case .boolean(let boolean): line("#", boolean ? "t" : "f")
        case .bigNumber(let text): line("(", text)
        case .verbatimString(let format, let text):
            line("=", String(text.readableBytes + 4))
            bytes += Array("\(format):".utf8)
            body(text)
        case .map(let pairs):
            line("%", String(pairs.count))
            for (key, value) in pairs {
                serialize(key, into: &bytes, generator: &generator)
                serialize(value, into: &bytes, generator: &generator)
            }
        case .set(let elements):
            line("~", String(elements.count))
            for element in elements { serialize(element, into: &bytes, generator: &generator) }
        case .push(let elements):
            line(">", String(elements.count))
            for element in elements { serialize(element, into: &bytes, generator: &generator) }
        }
    }
}
