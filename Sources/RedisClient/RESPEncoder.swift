import NIOCore

/// One argument of a Redis command: binary-safe bytes sent as a RESP bulk string.
///
/// Text, bytes and integers are kept as given and written straight into the outgoing buffer, so
/// building a command copies nothing. Integers are sent in decimal, as Redis expects.
public struct RESPArgument: Sendable, Hashable {
    enum Storage: Sendable, Hashable {
        case string(String)
        case bytes(ByteBuffer)
        case integer(Int64)
    }

    let storage: Storage

    /// Text, sent as its UTF-8 bytes.
    public init(_ string: String) { storage = .string(string) }
    /// Bytes, sent as they are (the readable bytes; the buffer is not consumed).
    public init(_ bytes: ByteBuffer) { storage = .bytes(bytes) }
    /// An integer, sent in decimal.
    public init(_ integer: Int64) { storage = .integer(integer) }
    /// An integer, sent in decimal.
    public init(_ integer: Int) { storage = .integer(Int64(integer)) }

    /// The argument as text when it is text or bytes (for checks on subcommand names).
    var text: String? {
        switch storage {
        case .string(let string): return string
        case .bytes(let bytes): return String(buffer: bytes)
        case .integer: return nil
        }
    }

    /// How many bytes the argument occupies on the wire, not counting its framing.
    public var byteCount: Int {
        switch storage {
        case .string(let string): return string.utf8.count
        case .bytes(let bytes): return bytes.readableBytes
        case .integer(let integer): return RESPEncoder.decimalLength(integer)
        }
    }
}

/// Anything that can be a command argument: `String`, `Substring`, `ByteBuffer`, `Int`, `Int64`
/// and ``RESPArgument`` itself, so commands can mix them freely.
public protocol RESPArgumentConvertible: Sendable {
    /// The argument as sent.
    var respArgument: RESPArgument { get }
}

extension RESPArgument: RESPArgumentConvertible {
    public var respArgument: RESPArgument { self }
}

extension RESPArgument: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(value) }
}

extension RESPArgument: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self.init(value) }
}

extension String: RESPArgumentConvertible {
    public var respArgument: RESPArgument { RESPArgument(self) }
}

extension Substring: RESPArgumentConvertible {
    public var respArgument: RESPArgument { RESPArgument(String(self)) }
}

extension ByteBuffer: RESPArgumentConvertible {
    public var respArgument: RESPArgument { RESPArgument(self) }
}

extension Int: RESPArgumentConvertible {
    public var respArgument: RESPArgument { RESPArgument(self) }
}

extension Int64: RESPArgumentConvertible {
    public var respArgument: RESPArgument { RESPArgument(self) }
}

/// A Redis command as sent: its name and arguments, written as a RESP array of bulk strings.
///
/// Its description shows only the name and the argument count, never the arguments, so logging
/// a command cannot leak a password (`AUTH`, `HELLO`) or session data.
public struct RESPCommand: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The command name, such as `GET`.
    public var name: String
    /// The arguments after the name.
    public var arguments: [RESPArgument]

    /// A command from its name and arguments of any supported type:
    /// `RESPCommand("SET", key, bytes, "PX", 1500)`.
    public init(_ name: String, _ arguments: any RESPArgumentConvertible...) {
        self.init(name, arguments: arguments.map(\.respArgument))
    }

    /// A command from its name and a list of arguments.
    public init(_ name: String, arguments: [RESPArgument]) {
        self.name = name
        self.arguments = arguments
    }

    public var description: String {
        arguments.isEmpty ? name : "\(name) (\(arguments.count) argument\(arguments.count == 1 ? "" : "s"))"
    }

    public var debugDescription: String { description }

    /// No children: `dump` and debuggers show the name and count, never the arguments.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Why a command helper refused to build a command; nothing was sent.
public struct RESPCommandError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What was wrong, without the offending bytes (they may be secret).
    public var description: String
}

/// Writes commands in RESP: always an array of bulk strings, `*N\r\n` then `$len\r\narg\r\n` for
/// the name and each argument. Pure byte translation, so pipelined commands are coalesced simply
/// by encoding them one after another into the same buffer.
enum RESPEncoder {
    static func encodeCommand(_ command: RESPCommand, into buffer: inout ByteBuffer) {
        writeHeader(UInt8(ascii: "*"), command.arguments.count + 1, into: &buffer)
        writeHeader(UInt8(ascii: "$"), command.name.utf8.count, into: &buffer)
        buffer.writeString(command.name)
        buffer.writeStaticString("\r\n")
        for argument in command.arguments {
            switch argument.storage {
            case .string(let string):
                writeHeader(UInt8(ascii: "$"), string.utf8.count, into: &buffer)
                buffer.writeString(string)
            case .bytes(let bytes):
                writeHeader(UInt8(ascii: "$"), bytes.readableBytes, into: &buffer)
                buffer.writeImmutableBuffer(bytes)
            case .integer(let integer):
                writeHeader(UInt8(ascii: "$"), decimalLength(integer), into: &buffer)
                writeDecimal(integer, into: &buffer)
            }
            buffer.writeStaticString("\r\n")
        }
    }

    private static func writeHeader(_ type: UInt8, _ count: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(type)
        writeDecimal(Int64(count), into: &buffer)
        buffer.writeStaticString("\r\n")
    }

    /// Writes `value` in decimal straight into the buffer: every command has a few of these
    /// (headers, lengths), and going through `String` cost a conversion each.
    private static func writeDecimal(_ value: Int64, into buffer: inout ByteBuffer) {
        let length = decimalLength(value)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { bytes in
            var magnitude = value.magnitude
            var index = length
            repeat {
                index -= 1
                bytes[index] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 { bytes[0] = UInt8(ascii: "-") }
            return length
        }
    }

    /// How many bytes `value` takes in decimal, sign included (20 for `Int64.min`).
    static func decimalLength(_ value: Int64) -> Int {
        var magnitude = value.magnitude
        var length = value < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            length += 1
        }
        return length
    }
}

// MARK: - The commands the session store needs

extension RESPCommand {
    /// Redis' ceiling on a key or a string value: 512 MiB (`proto-max-bulk-len`'s default).
    /// Longer ones are refused before anything is written, since the server would answer with a
    /// protocol error and drop the connection, failing every request pipelined on it.
    public static let maximumKeyOrValueLength = 512 * 1024 * 1024

    /// `SET`'s condition: the primitive behind locks is ``ifNotExists`` (`NX`).
    public enum SetCondition: Sendable, Hashable {
        /// Store unconditionally.
        case always
        /// `NX`: store only if the key does not exist.
        case ifNotExists
        /// `XX`: store only if the key exists.
        case ifExists
    }

    /// `SET`'s treatment of the key's time to live.
    public enum SetExpiration: Sendable, Hashable {
        /// `PX ms`: expire after this many milliseconds (at least 1).
        case milliseconds(Int64)
        /// `KEEPTTL`: keep the existing key's time to live.
        case keepTTL
    }

    /// `GET key`.
    public static func get(_ key: some RESPArgumentConvertible) throws(RESPCommandError) -> RESPCommand {
        RESPCommand("GET", arguments: [try checkedKey(key)])
    }

    /// `SET key value [PX ms] [NX|XX] [KEEPTTL]`; without an expiration the key loses any TTL.
    public static func set(
        _ key: some RESPArgumentConvertible,
        _ value: some RESPArgumentConvertible,
        expiration: SetExpiration? = nil,
        condition: SetCondition = .always
    ) throws(RESPCommandError) -> RESPCommand {
        var arguments = [try checkedKey(key), try checked(value.respArgument, "value")]
        if case .milliseconds(let milliseconds) = expiration {
            guard milliseconds > 0 else { throw RESPCommandError(description: "SET expiration must be at least 1 ms, not \(milliseconds)") }
            arguments += ["PX", RESPArgument(milliseconds)]
        }
        switch condition {
        case .always: break
        case .ifNotExists: arguments.append("NX")
        case .ifExists: arguments.append("XX")
        }
        if expiration == .keepTTL { arguments.append("KEEPTTL") }
        return RESPCommand("SET", arguments: arguments)
    }

    /// `DEL key [key ...]`: replies with the number of keys removed.
    public static func del(_ keys: any RESPArgumentConvertible...) throws(RESPCommandError) -> RESPCommand {
        guard !keys.isEmpty else { throw RESPCommandError(description: "DEL needs at least one key") }
        var arguments: [RESPArgument] = []
        for key in keys { arguments.append(try checkedKey(key)) }
        return RESPCommand("DEL", arguments: arguments)
    }

    /// `PEXPIRE key ms`: a zero or negative time deletes the key, as in Redis.
    public static func pexpire(_ key: some RESPArgumentConvertible, milliseconds: Int64) throws(RESPCommandError) -> RESPCommand {
        RESPCommand("PEXPIRE", arguments: [try checkedKey(key), RESPArgument(milliseconds)])
    }

    /// `PTTL key`: milliseconds left, `-1` without expiry, `-2` for a missing key.
    public static func pttl(_ key: some RESPArgumentConvertible) throws(RESPCommandError) -> RESPCommand {
        RESPCommand("PTTL", arguments: [try checkedKey(key)])
    }

    /// `PING [message]`: `+PONG`, or the message echoed as a bulk string.
    public static func ping(_ message: String? = nil) -> RESPCommand {
        RESPCommand("PING", arguments: message.map { [RESPArgument($0)] } ?? [])
    }

    /// `AUTH [username] password`: without a username, Redis checks `requirepass` (the `default`
    /// user).
    public static func auth(username: String? = nil, password: String) -> RESPCommand {
        RESPCommand("AUTH", arguments: (username.map { [RESPArgument($0)] } ?? []) + [RESPArgument(password)])
    }

    /// `SELECT db`.
    public static func select(database: Int) throws(RESPCommandError) -> RESPCommand {
        guard database >= 0 else { throw RESPCommandError(description: "database index must not be negative, not \(database)") }
        return RESPCommand("SELECT", arguments: [RESPArgument(database)])
    }

    /// `HELLO protover [AUTH username password]`: switches the protocol (3 for RESP3) and
    /// optionally authenticates in the same round trip. `HELLO`'s `AUTH` always takes a username;
    /// with only a password, the `default` user is the one `requirepass` protects.
    public static func hello(protocolVersion: Int = 3, username: String? = nil, password: String? = nil) throws(RESPCommandError) -> RESPCommand {
        guard protocolVersion == 2 || protocolVersion == 3 else {
            throw RESPCommandError(description: "HELLO supports protocol versions 2 and 3, not \(protocolVersion)")
        }
        var arguments = [RESPArgument(protocolVersion)]
        if let password {
            arguments += ["AUTH", RESPArgument(username ?? "default"), RESPArgument(password)]
        } else if username != nil {
            throw RESPCommandError(description: "HELLO AUTH needs a password with the username")
        }
        return RESPCommand("HELLO", arguments: arguments)
    }

    /// `EVAL script numkeys key... arg...`: runs a Lua script atomically.
    public static func eval(
        _ script: String,
        keys: [any RESPArgumentConvertible] = [],
        arguments: [any RESPArgumentConvertible] = []
    ) throws(RESPCommandError) -> RESPCommand {
        try scripted("EVAL", RESPArgument(script), keys: keys, arguments: arguments)
    }

    /// `EVALSHA sha1 numkeys key... arg...`: runs a script the server has cached; the reply is a
    /// `NOSCRIPT` error when it has not, and the caller falls back to ``eval(_:keys:arguments:)``.
    public static func evalsha(
        _ sha1: String,
        keys: [any RESPArgumentConvertible] = [],
        arguments: [any RESPArgumentConvertible] = []
    ) throws(RESPCommandError) -> RESPCommand {
        try scripted("EVALSHA", RESPArgument(sha1), keys: keys, arguments: arguments)
    }

    private static func scripted(
        _ name: String,
        _ script: RESPArgument,
        keys: [any RESPArgumentConvertible],
        arguments: [any RESPArgumentConvertible]
    ) throws(RESPCommandError) -> RESPCommand {
        var all = [script, RESPArgument(keys.count)]
        for key in keys { all.append(try checkedKey(key)) }
        for argument in arguments { all.append(try checked(argument.respArgument, "argument")) }
        return RESPCommand(name, arguments: all)
    }

    private static func checkedKey(_ key: some RESPArgumentConvertible) throws(RESPCommandError) -> RESPArgument {
        try checked(key.respArgument, "key")
    }

    private static func checked(_ argument: RESPArgument, _ what: String) throws(RESPCommandError) -> RESPArgument {
        try checkLength(argument.byteCount, of: what)
        return argument
    }

    /// Refuses a key or value longer than ``maximumKeyOrValueLength``.
    static func checkLength(_ byteCount: Int, of what: String) throws(RESPCommandError) {
        guard byteCount <= maximumKeyOrValueLength else {
            throw RESPCommandError(description: "\(what) of \(byteCount) bytes exceeds Redis' \(maximumKeyOrValueLength)-byte limit")
        }
    }
}
