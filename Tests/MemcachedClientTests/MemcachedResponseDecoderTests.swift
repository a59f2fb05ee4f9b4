import NIOCore
import NIOTestUtils
import ServerTestSupport
import Testing

@testable import MemcachedClient

@Suite struct MemcachedResponseDecoderTests {
    private static let wellFormed: [(String, MemcachedResponse)] = [
        ("HD\r\n", MemcachedResponse(status: .stored)),
        ("HD c123 O5\r\n", MemcachedResponse(status: .stored, cas: 123, opaque: 5)),
        ("EN\r\n", MemcachedResponse(status: .miss)),
        ("EN O4294967295\r\n", MemcachedResponse(status: .miss, opaque: 4_294_967_295)),
        ("NF O3\r\n", MemcachedResponse(status: .notFound, opaque: 3)),
        ("NS O2\r\n", MemcachedResponse(status: .notStored, opaque: 2)),
        ("EX c18446744073709551615\r\n", MemcachedResponse(status: .exists, cas: UInt64.max)),
        ("MN\r\n", MemcachedResponse(status: .noop)),
        ("VERSION 1.6.18\r\n", MemcachedResponse(status: .version("1.6.18"))),
        ("ERROR\r\n", MemcachedResponse(status: .error)),
        ("SERVER_ERROR object too large for cache\r\n", MemcachedResponse(status: .serverError("object too large for cache"))),
        ("CLIENT_ERROR bad data chunk\r\n", MemcachedResponse(status: .clientError("bad data chunk"))),
        ("CLIENT_ERROR unauthenticated\r\n", MemcachedResponse(status: .unauthenticated)),
        ("STORED\r\n", MemcachedResponse(status: .authenticated)),
        (
            "VA 5 f7 c9 t-1 O1\r\nhello\r\n",
            MemcachedResponse(status: .value, value: ByteBuffer(string: "hello"), cas: 9, clientFlags: 7, timeToLive: -1, opaque: 1)
        ),
        ("VA 0 t30\r\n\r\n", MemcachedResponse(status: .value, value: ByteBuffer(), timeToLive: 30)),
        // A value may itself contain CRLF and "END": only the announced length frames it.
        ("VA 9 s9 k\r\nEN\r\nMN\r\nX\r\n", MemcachedResponse(status: .value, value: ByteBuffer(string: "EN\r\nMN\r\nX"))),
    ]

    @Test(arguments: 0..<wellFormed.count)
    func decodesEachReplyKind(index: Int) throws {
        let (text, expected) = Self.wellFormed[index]
        var decoder = MemcachedResponseDecoder()
        var buffer = ByteBuffer(string: text)
        #expect(try decoder.decode(buffer: &buffer) == expected)
        #expect(buffer.readableBytes == 0)
    }

    @Test func decodesAPipelinedStreamUnderEverySplit() throws {
        let stream = Self.wellFormed.map(\.0).joined()
        try ByteToMessageDecoderVerifier.verifyDecoder(
            stringInputOutputPairs: [(stream, Self.wellFormed.map(\.1))],
            decoderFactory: { MemcachedResponseDecoder() }
        )
    }

    @Test func waitsForTheWholeValue() throws {
        var decoder = MemcachedResponseDecoder()
        var buffer = ByteBuffer(string: "VA 10 O1\r\n01234")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString("56789\r")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString("\nHD\r\n")
        #expect(try decoder.decode(buffer: &buffer)?.value == ByteBuffer(string: "0123456789"))
        #expect(try decoder.decode(buffer: &buffer) == MemcachedResponse(status: .stored))
    }

    @Test(arguments: [
        "XX\r\n", "HELLO WORLD\r\n", "\r\n", "   \r\n", "VA\r\n", "VA abc\r\n", "VA -1\r\n",
        "VA 3\r\nabcd\r\n", "HD\n", "HD c\r\n", "HD c12x\r\n", "HD c99999999999999999999999\r\n",
        "HD f4294967296\r\n", "HD O4294967296\r\n", "SERVER_ERROR bad\u{1}byte\r\n", "VERSION\r\n",
        "hd\r\n", "VA 99999999999999999999999\r\n",
    ])
    func rejectsMalformedReplies(reply: String) {
        #expect(throws: MemcachedDecodingError.self) { try Self.decodeAll(ByteBuffer(string: reply)) }
    }

    @Test func rejectsALineThatNeverEnds() {
        let endless = ByteBuffer(repeating: UInt8(ascii: "A"), count: MemcachedResponseDecoder.maximumLineLength + 1)
        #expect(throws: MemcachedDecodingError.self) { try Self.decodeAll(endless) }
    }

    @Test func rejectsAValueOverTheLimit() {
        var decoder = MemcachedResponseDecoder(maximumValueLength: 4)
        var buffer = ByteBuffer(string: "VA 5\r\n")
        #expect(throws: MemcachedDecodingError.self) { try decoder.decode(buffer: &buffer) }
    }

    /// Random bytes, reply-alphabet soup and mutated valid streams, fed in random splits: the
    /// decoder must only return replies or throw its own error, and consume nothing while it waits.
    @Test func survivesRandomAndMutatedInput() {
        let valid = Array(Self.wellFormed.map(\.0).joined().utf8)
        let alphabet = Array("HDVAENFNSEXMN 0123456789cftO-\r\n\r\nVERSION SERVER_ERROR".utf8)
        let inputs = DecoderFuzzing.inputs(valid: valid, alphabet: alphabet, rounds: 3000, seed: 0x5EED)
        let outcome = DecoderFuzzing.run(inputs, seed: 0x5EED + 1, decodingError: MemcachedDecodingError.self) {
            MemcachedResponseDecoder(maximumValueLength: 1 << 16)
        }
        #expect(outcome.foreignErrors.isEmpty, "\(outcome.foreignErrors.prefix(3))")
        #expect(outcome.consumedWithoutValue.isEmpty, "consumed bytes of an incomplete reply in rounds \(outcome.consumedWithoutValue.prefix(5))")
        #expect(outcome.valueWithoutConsuming.isEmpty)
        #expect(outcome.decoded > 500)
        #expect(outcome.thrown > 500)
    }

    private static func decodeAll(_ input: ByteBuffer) throws {
        var decoder = MemcachedResponseDecoder()
        var buffer = input
        while try decoder.decode(buffer: &buffer) != nil {}
    }
}
