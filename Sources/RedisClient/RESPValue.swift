import NIOCore

/// An error reply from Redis (`-ERR ...` in RESP2, also `!<length>` blob errors in RESP3).
///
/// Redis starts every error message with an upper-case word naming its kind (`ERR`, `WRONGTYPE`,
/// `NOAUTH`, `WRONGPASS`, `LOADING`, `MOVED`, `BUSY`, `NOSCRIPT`...). That word is split off as
/// ``code`` so callers can tell a retryable condition (`LOADING`, `BUSY`) from a broken request
/// (`ERR`, `WRONGTYPE`) or a configuration problem (`NOAUTH`, `WRONGPASS`) without parsing text.
public struct RESPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The first word of the reply, such as `ERR`, `WRONGTYPE` or `NOSCRIPT`.
    public var code: String
    /// The rest of the reply after the first space; empty when the reply is a single word.
    public var message: String

    /// Creates an error from its parts.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// Splits an error reply's text at its first space into ``code`` and ``message``.
    public init(parsing text: String) {
        if let space = text.firstIndex(of: " ") {
            self.init(code: String(text[..<space]), message: String(text[text.index(after: space)...]))
        } else {
            self.init(code: text, message: "")
        }
    }

    /// The reply's text as Redis sent it.
    public var description: String {
        message.isEmpty ? code : "\(code) \(message)"
    }
}

/// One reply (or one element of a reply) in the Redis serialization protocol, RESP2 or RESP3.
///
/// RESP2 servers only ever send the first five cases; a connection upgraded with `HELLO 3` may
/// send any of them. The three spellings of "nothing" are kept apart because they are different
/// wire types (`$-1`, `*-1` and RESP3's `_`); use ``isNull`` when the difference does not matter.
///
/// Attributes (RESP3's `|`) never appear here: they are out-of-band metadata that precede the
/// real reply, and no command this client sends asks for them, so the decoder reads and discards
/// them and returns the reply that follows.
public enum RESPValue: Sendable, Equatable {
    /// `+OK`: a short, CRLF-free status text.
    case simpleString(String)
    /// `-ERR ...` (or RESP3's blob error `!`): the command failed; the connection is still usable,
    /// except after `ERR Protocol error`, when Redis closes it.
    case error(RESPError)
    /// `:42`: a signed 64-bit integer.
    case integer(Int64)
    /// `$5\r\nhello`: binary-safe bytes; `nil` is RESP2's null bulk string `$-1` (a missing key).
    case bulkString(ByteBuffer?)
    /// `*2 ...`: an ordered list; `nil` is RESP2's null array `*-1`.
    case array([RESPValue]?)
    /// `_`: RESP3's single null type.
    case null
    /// `,3.14`: RESP3 floating point, including `inf`, `-inf` and `nan`.
    ///
    /// Equality follows `Double`: a `nan` reply is not equal to itself.
    case double(Double)
    /// `#t` / `#f`: RESP3 boolean.
    case boolean(Bool)
    /// `(3492890328409238509324850943850943825024385`: RESP3 integer beyond 64 bits, as its
    /// decimal text (optionally signed) since Swift has no standard big integer.
    case bigNumber(String)
    /// `=15\r\ntxt:Some string`: RESP3 text with a three-letter format such as `txt` or `mkd`.
    case verbatimString(format: String, text: ByteBuffer)
    /// `%2 ...`: RESP3 key-value pairs, kept in wire order (keys may be any value, so this is not a
    /// `Dictionary`).
    case map([(RESPValue, RESPValue)])
    /// `~3 ...`: RESP3 unordered collection, kept in wire order.
    case set([RESPValue])
    /// `>3 ...`: RESP3 out-of-band data (pub/sub messages, client-side caching invalidations),
    /// which is not the reply to any request.
    case push([RESPValue])

    /// Whether this is any of the null forms: `$-1`, `*-1` or `_`.
    public var isNull: Bool {
        switch self {
        case .null, .bulkString(nil), .array(nil): return true
        default: return false
        }
    }

    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let a), .simpleString(let b)): return a == b
        case (.error(let a), .error(let b)): return a == b
        case (.integer(let a), .integer(let b)): return a == b
        case (.bulkString(let a), .bulkString(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.null, .null): return true
        case (.double(let a), .double(let b)): return a == b
        case (.boolean(let a), .boolean(let b)): return a == b
        case (.bigNumber(let a), .bigNumber(let b)): return a == b
        case (.verbatimString(let formatA, let textA), .verbatimString(let formatB, let textB)):
            return formatA == formatB && textA == textB
        case (.map(let a), .map(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.set(let a), .set(let b)): return a == b
        case (.push(let a), .push(let b)): return a == b
        default: return false
        }
    }
}
