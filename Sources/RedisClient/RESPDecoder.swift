import NIOCore

/// Why bytes from Redis could not be decoded; the connection that produced them must be closed,
/// since nothing after a framing error can be trusted to line up with a request.
struct RESPDecodingError: Error, Equatable, CustomStringConvertible {
    var description: String
}

/// Turns bytes from Redis into ``RESPValue``s, whatever the byte splits.
///
/// Each call parses from the start of the next value and returns `nil`, consuming nothing, until
/// that whole value is buffered; then it consumes exactly its bytes. Re-parsing is cheap for the
/// replies a session store gets (a bulk string's body is checked by length, not scanned) and keeps
/// the decoder free of resumable state.
///
/// It never traps: anything malformed throws ``RESPDecodingError``. Limits keep a broken or hostile
/// peer from growing the buffer without bound (line and bulk lengths), from making the parser
/// recurse deeply (nesting depth), or from making it allocate for elements that were announced but
/// never sent (aggregate counts; storage only grows as elements actually arrive).
struct RESPDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = RESPValue

    /// Largest bulk string, blob error or verbatim string accepted (Redis' own
    /// `proto-max-bulk-len` defaults to 512 MiB).
    let maximumBulkLength: Int
    /// Most elements one aggregate header may announce; a map's or attribute's pairs count twice.
    let maximumAggregateCount: Int
    /// Deepest nesting of aggregates accepted: a top-level array is level 1.
    let maximumDepth: Int
    /// Longest header or simple line accepted, without its type byte and CRLF.
    let maximumLineLength: Int

    init(
        maximumBulkLength: Int = 512 * 1024 * 1024,
        maximumAggregateCount: Int = 1024 * 1024,
        maximumDepth: Int = 64,
        maximumLineLength: Int = 64 * 1024
    ) {
        self.maximumBulkLength = maximumBulkLength
        self.maximumAggregateCount = maximumAggregateCount
        self.maximumDepth = maximumDepth
        self.maximumLineLength = maximumLineLength
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        let parser = RESPParser(buffer: buffer, decoder: self)
        guard let (value, end) = try parser.parseValue(at: buffer.readerIndex, depth: 0) else { return nil }
        buffer.moveReaderIndex(to: end)
        return value
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try decode(buffer: &buffer)
    }
}

/// One parse attempt over the buffered bytes; every method returns `nil` when the bytes it needs
/// have not arrived yet, and indices are the buffer's own.
private struct RESPParser {
    private let buffer: ByteBuffer
    private let view: ByteBufferView
    private let limits: RESPDecoder

    init(buffer: ByteBuffer, decoder: RESPDecoder) {
        self.buffer = buffer
        self.view = buffer.readableBytesView
        self.limits = decoder
    }

    private static let carriageReturn = UInt8(ascii: "\r")
    private static let lineFeed = UInt8(ascii: "\n")

    /// Parses the value starting at `start`, skipping any attributes before it.
    func parseValue(at start: Int, depth: Int) throws -> (RESPValue, end: Int)? {
        var start = start
        while true {
            guard start < view.endIndex else { return nil }
            let type = view[start]
            guard let (line, next) = try readLine(at: start + 1) else { return nil }

            switch type {
            case UInt8(ascii: "+"):
                return (.simpleString(String(decoding: view[line], as: UTF8.self)), next)

            case UInt8(ascii: "-"):
                return (.error(RESPError(parsing: String(decoding: view[line], as: UTF8.self))), next)

            case UInt8(ascii: ":"):
                guard let integer = Self.parseInteger(view[line]) else {
                    throw RESPDecodingError(description: "integer reply is not a 64-bit integer")
                }
                return (.integer(integer), next)

            case UInt8(ascii: "$"):
                if isNullLength(line) { return (.bulkString(nil), next) }
                let length = try bulkLength(line, kind: "bulk string")
                guard let body = try readBody(at: next, length: length) else { return nil }
                return (.bulkString(try slice(at: next, length: length)), body)

            case UInt8(ascii: "!"):
                let length = try bulkLength(line, kind: "blob error")
                guard let body = try readBody(at: next, length: length) else { return nil }
                let text = String(decoding: view[next..<(next + length)], as: UTF8.self)
                return (.error(RESPError(parsing: text)), body)

            case UInt8(ascii: "="):
                let length = try bulkLength(line, kind: "verbatim string")
                guard length >= 4 else {
                    throw RESPDecodingError(description: "verbatim string of \(length) bytes has no format prefix")
                }
                guard let body = try readBody(at: next, length: length) else { return nil }
                guard view[next + 3] == UInt8(ascii: ":") else {
                    throw RESPDecodingError(description: "verbatim string format not followed by ':'")
                }
                let format = String(decoding: view[next..<(next + 3)], as: UTF8.self)
                return (.verbatimString(format: format, text: try slice(at: next + 4, length: length - 4)), body)

            case UInt8(ascii: "_"):
                guard line.isEmpty else { throw RESPDecodingError(description: "null reply carries data") }
                return (.null, next)

            case UInt8(ascii: "#"):
                switch line.count == 1 ? view[line.lowerBound] : 0 {
                case UInt8(ascii: "t"): return (.boolean(true), next)
                case UInt8(ascii: "f"): return (.boolean(false), next)
                default: throw RESPDecodingError(description: "boolean reply is neither t nor f")
                }

            case UInt8(ascii: ","):
                guard let double = Self.parseDouble(view[line]) else {
                    throw RESPDecodingError(description: "double reply is not a number")
                }
                return (.double(double), next)

            case UInt8(ascii: "("):
                guard Self.isBigNumber(view[line]) else {
                    throw RESPDecodingError(description: "big number reply is not a decimal integer")
                }
                return (.bigNumber(String(decoding: view[line], as: UTF8.self)), next)

            case UInt8(ascii: "*"):
                if isNullLength(line) { return (.array(nil), next) }
                let count = try aggregateCount(line, pairs: false, depth: depth)
                guard let (elements, end) = try parseElements(count, at: next, depth: depth + 1) else { return nil }
                return (.array(elements), end)

            case UInt8(ascii: "~"):
                let count = try aggregateCount(line, pairs: false, depth: depth)
                guard let (elements, end) = try parseElements(count, at: next, depth: depth + 1) else { return nil }
                return (.set(elements), end)

            case UInt8(ascii: ">"):
                let count = try aggregateCount(line, pairs: false, depth: depth)
                guard let (elements, end) = try parseElements(count, at: next, depth: depth + 1) else { return nil }
                return (.push(elements), end)

            case UInt8(ascii: "%"):
                let count = try aggregateCount(line, pairs: true, depth: depth)
                guard let (elements, end) = try parseElements(count * 2, at: next, depth: depth + 1) else { return nil }
                let pairs = stride(from: 0, to: elements.count, by: 2).map { (elements[$0], elements[$0 + 1]) }
                return (.map(pairs), end)

            case UInt8(ascii: "|"):
                // An attribute is metadata about the reply that follows it: read it, drop it, and
                // go on with that reply (iterating, so a run of attributes cannot recurse).
                let count = try aggregateCount(line, pairs: true, depth: depth)
                guard let (_, end) = try parseElements(count * 2, at: next, depth: depth + 1) else { return nil }
                start = end

            default:
                throw RESPDecodingError(description: "unknown RESP type byte 0x\(String(type, radix: 16))")
            }
        }
    }

    /// Parses `count` consecutive values; storage grows only with the elements actually parsed.
    private func parseElements(_ count: Int, at start: Int, depth: Int) throws -> ([RESPValue], end: Int)? {
        var elements: [RESPValue] = []
        // Every element takes at least three bytes ("_\r\n"), so this reservation is bounded by
        // the bytes already buffered, whatever count the header claimed.
        elements.reserveCapacity(min(count, (view.endIndex - start) / 3))
        var offset = start
        for _ in 0..<count {
            guard let (element, end) = try parseValue(at: offset, depth: depth) else { return nil }
            elements.append(element)
            offset = end
        }
        return (elements, offset)
    }

    // MARK: - Framing

    /// The line starting at `start`, without its CRLF, and the index after the CRLF.
    private func readLine(at start: Int) throws -> (Range<Int>, next: Int)? {
        let searchEnd = min(view.endIndex, start + limits.maximumLineLength + 1)
        guard start <= searchEnd,
            let terminator = view[start..<searchEnd].firstIndex(where: { $0 == Self.carriageReturn || $0 == Self.lineFeed })
        else {
            if view.endIndex - start > limits.maximumLineLength {
                throw RESPDecodingError(description: "line longer than \(limits.maximumLineLength) bytes")
            }
            return nil
        }
        guard view[terminator] == Self.carriageReturn else {
            throw RESPDecodingError(description: "line ends with a bare LF")
        }
        guard terminator + 1 < view.endIndex else { return nil }
        guard view[terminator + 1] == Self.lineFeed else {
            throw RESPDecodingError(description: "CR not followed by LF")
        }
        return (start..<terminator, terminator + 2)
    }

    /// The index after a body of `length` bytes and its CRLF at `start`, once all are buffered.
    private func readBody(at start: Int, length: Int) throws -> Int? {
        guard view.endIndex - start >= length + 2 else { return nil }
        guard view[start + length] == Self.carriageReturn, view[start + length + 1] == Self.lineFeed else {
            throw RESPDecodingError(description: "body of \(length) bytes not followed by CRLF")
        }
        return start + length + 2
    }

    /// Whether a `$` or `*` header announces RESP2's null (`-1`); no other type has one.
    private func isNullLength(_ line: Range<Int>) -> Bool {
        view[line].elementsEqual("-1".utf8)
    }

    /// A `$`, `!` or `=` length, checked against the bulk limit.
    private func bulkLength(_ line: Range<Int>, kind: String) throws -> Int {
        let length = try self.length(line, kind: kind)
        guard length <= limits.maximumBulkLength else {
            throw RESPDecodingError(description: "\(kind) of \(length) bytes exceeds the \(limits.maximumBulkLength)-byte limit")
        }
        return length
    }

    /// An aggregate's element (or pair) count, checked against the count and depth limits.
    private func aggregateCount(_ line: Range<Int>, pairs: Bool, depth: Int) throws -> Int {
        guard depth < limits.maximumDepth else {
            throw RESPDecodingError(description: "aggregates nested deeper than \(limits.maximumDepth) levels")
        }
        let count = try length(line, kind: "aggregate")
        let elements = pairs ? count.multipliedReportingOverflow(by: 2) : (partialValue: count, overflow: false)
        guard !elements.overflow, elements.partialValue <= limits.maximumAggregateCount else {
            throw RESPDecodingError(description: "aggregate of \(count) entries exceeds the \(limits.maximumAggregateCount)-element limit")
        }
        return count
    }

    /// A non-negative decimal length.
    private func length(_ line: Range<Int>, kind: String) throws -> Int {
        guard let length = Self.parseUnsigned(view[line]) else {
            throw RESPDecodingError(description: "\(kind) length is not a non-negative integer")
        }
        return length
    }

    /// A copy-free slice of bytes already known to be buffered.
    private func slice(at index: Int, length: Int) throws -> ByteBuffer {
        guard let slice = buffer.getSlice(at: index, length: length) else {
            throw RESPDecodingError(description: "internal error: slice outside the buffered bytes")
        }
        return slice
    }

    // MARK: - Numbers

    /// Plain decimal digits, no sign, within `Int`.
    private static func parseUnsigned(_ digits: ByteBufferView.SubSequence) -> Int? {
        guard !digits.isEmpty, digits.count <= 19 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(Int(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }

    /// `[+|-]digits` in Int64's range, including `Int64.min`.
    private static func parseInteger(_ text: ByteBufferView.SubSequence) -> Int64? {
        guard let first = text.first else { return nil }
        let negative = first == UInt8(ascii: "-")
        let digits = (negative || first == UInt8(ascii: "+")) ? text.dropFirst() : text
        guard !digits.isEmpty, digits.count <= 19 else { return nil }
        var magnitude: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            magnitude = magnitude * 10 + UInt64(digit - UInt8(ascii: "0"))  // 19 digits cannot overflow UInt64
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        return Int64(exactly: magnitude)
    }

    /// RESP3 doubles: decimal or exponent notation, `inf`, `-inf` and `nan`; not Swift's hex
    /// floats or `infinity` spellings, which Redis never sends.
    private static func parseDouble(_ text: ByteBufferView.SubSequence) -> Double? {
        let string = String(decoding: text, as: UTF8.self)
        switch string {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        case "nan", "-nan": return .nan
        default:
            guard !text.isEmpty,
                text.allSatisfy({ byte in
                    (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                        || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                        || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E")
                })
            else { return nil }
            return Double(string)
        }
    }

    private static func isBigNumber(_ text: ByteBufferView.SubSequence) -> Bool {
        let digits = text.first == UInt8(ascii: "-") || text.first == UInt8(ascii: "+") ? text.dropFirst() : text
        return !digits.isEmpty && digits.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
