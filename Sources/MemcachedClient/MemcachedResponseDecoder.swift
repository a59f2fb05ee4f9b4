import NIOCore

/// Why a reply could not be decoded; the connection that produced it must be closed.
struct MemcachedDecodingError: Error, Equatable, CustomStringConvertible {
    var description: String
}

/// Turns bytes from memcached into ``MemcachedResponse``s, whatever the byte splits.
///
/// It never traps: anything that is not a well-formed meta reply throws, and the channel
/// handler closes the connection. Limits on line and value length keep a hostile or broken peer
/// from growing the buffer without bound.
struct MemcachedResponseDecoder: NIOSingleStepByteToMessageDecoder {
    typealias InboundOut = MemcachedResponse

    /// Longest header line accepted; real replies are well under 100 bytes.
    static let maximumLineLength = 8 * 1024

    /// Largest value accepted (memcached's own ceiling is 1 GiB with `-I 1024m`).
    let maximumValueLength: Int

    init(maximumValueLength: Int = 1 << 30) {
        self.maximumValueLength = maximumValueLength
    }

    mutating func decode(buffer: inout ByteBuffer) throws -> MemcachedResponse? {
        let view = buffer.readableBytesView
        guard let lineFeed = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if view.count > Self.maximumLineLength {
                throw MemcachedDecodingError(description: "reply line longer than \(Self.maximumLineLength) bytes")
            }
            return nil
        }
        let lineLength = lineFeed - view.startIndex
        guard lineLength >= 1, view[lineFeed - 1] == UInt8(ascii: "\r") else {
            throw MemcachedDecodingError(description: "reply line not terminated by CRLF")
        }
        guard lineLength <= Self.maximumLineLength else {
            throw MemcachedDecodingError(description: "reply line longer than \(Self.maximumLineLength) bytes")
        }
        let header = try Self.parseHeader(view[view.startIndex..<(lineFeed - 1)])

        guard case .value(let valueLength) = header.body else {
            buffer.moveReaderIndex(forwardBy: lineLength + 1)
            return header.response
        }
        guard valueLength <= maximumValueLength else {
            throw MemcachedDecodingError(description: "value of \(valueLength) bytes exceeds the \(maximumValueLength)-byte limit")
        }
        let total = lineLength + 1 + valueLength + 2
        guard buffer.readableBytes >= total else { return nil }
        let valueStart = buffer.readerIndex + lineLength + 1
        guard buffer.getInteger(at: valueStart + valueLength, as: UInt16.self) == 0x0D0A else {
            throw MemcachedDecodingError(description: "value of \(valueLength) bytes not followed by CRLF")
        }
        var response = header.response
        response.value = buffer.getSlice(at: valueStart, length: valueLength)
        buffer.moveReaderIndex(forwardBy: total)
        return response
    }

    mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MemcachedResponse? {
        try decode(buffer: &buffer)
    }

    // MARK: - Header line

    private struct Header {
        enum Body { case none, value(Int) }
        var response: MemcachedResponse
        var body: Body
    }

    private static func parseHeader(_ line: ByteBufferView.SubSequence) throws -> Header {
        var tokens = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true).makeIterator()
        guard let code = tokens.next() else { throw MemcachedDecodingError(description: "empty reply line") }

        let status: MemcachedResponse.Status
        var body = Header.Body.none
        switch code.count == 2 ? (code[code.startIndex], code[code.startIndex + 1]) : (0, 0) {
        case (UInt8(ascii: "H"), UInt8(ascii: "D")): status = .stored
        case (UInt8(ascii: "E"), UInt8(ascii: "N")): status = .miss
        case (UInt8(ascii: "N"), UInt8(ascii: "F")): status = .notFound
        case (UInt8(ascii: "N"), UInt8(ascii: "S")): status = .notStored
        case (UInt8(ascii: "E"), UInt8(ascii: "X")): status = .exists
        case (UInt8(ascii: "M"), UInt8(ascii: "N")): status = .noop
        case (UInt8(ascii: "V"), UInt8(ascii: "A")):
            status = .value
            guard let sizeToken = tokens.next(), let size = parseUnsigned(sizeToken), size <= UInt64(Int.max - 16) else {
                throw MemcachedDecodingError(description: "VA reply without a valid size")
            }
            body = .value(Int(size))
        default:
            return Header(response: MemcachedResponse(status: try parseNonMetaLine(line)), body: .none)
        }

        var response = MemcachedResponse(status: status)
        while let token = tokens.next() {
            let flag = token[token.startIndex]
            let argument = token.dropFirst()
            switch flag {
            case UInt8(ascii: "c"): response.cas = try number(argument, flag: "c")
            case UInt8(ascii: "f"):
                guard let flags = UInt32(exactly: try number(argument, flag: "f")) else {
                    throw MemcachedDecodingError(description: "client flags out of range")
                }
                response.clientFlags = flags
            case UInt8(ascii: "t"):
                if argument.elementsEqual("-1".utf8) {
                    response.timeToLive = -1
                } else {
                    guard let ttl = Int64(exactly: try number(argument, flag: "t")) else {
                        throw MemcachedDecodingError(description: "ttl out of range")
                    }
                    response.timeToLive = ttl
                }
            case UInt8(ascii: "O"):
                guard let opaque = UInt32(exactly: try number(argument, flag: "O")) else {
                    throw MemcachedDecodingError(description: "opaque out of range")
                }
                response.opaque = opaque
            default:
                continue  // flags we did not ask for (k, s, h, l, W, X, Z...) are ignored
            }
        }
        return Header(response: response, body: body)
    }

    /// `VERSION`, `STORED`, `ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`: the classic-protocol lines.
    private static func parseNonMetaLine(_ line: ByteBufferView.SubSequence) throws -> MemcachedResponse.Status {
        for byte in line where byte < 0x20 || byte == 0x7F {
            throw MemcachedDecodingError(description: "reply contains control byte 0x\(String(byte, radix: 16))")
        }
        let text = String(decoding: line, as: UTF8.self)
        if text == "ERROR" { return .error }
        if text == "STORED" { return .authenticated }
        if text == "CLIENT_ERROR unauthenticated" { return .unauthenticated }
        if let message = text.removingPrefix("SERVER_ERROR ") ?? (text == "SERVER_ERROR" ? "" : nil) {
            return .serverError(message)
        }
        if let message = text.removingPrefix("CLIENT_ERROR ") ?? (text == "CLIENT_ERROR" ? "" : nil) {
            return .clientError(message)
        }
        if let version = text.removingPrefix("VERSION ") { return .version(version) }
        throw MemcachedDecodingError(description: "unknown reply \"\(text.prefix(64))\"")
    }

    private static func number(_ digits: ByteBufferView.SubSequence.SubSequence, flag: String) throws -> UInt64 {
        guard let value = parseUnsigned(digits) else {
            throw MemcachedDecodingError(description: "flag \(flag) carries no valid number")
        }
        return value
    }

    private static func parseUnsigned<Digits: Collection<UInt8>>(_ digits: Digits) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (shifted, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
        }
        return value
    }
}

extension String {
    fileprivate func removingPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
