import NIOCore

/// How a store request treats an existing item (meta protocol's `M` flag).
public enum MemcachedStoreMode: Sendable, Hashable {
    /// Store unconditionally.
    case set
    /// Store only if the key does not exist yet (the primitive behind locks).
    case add
    /// Store only if the key already exists.
    case replace
    /// Append the bytes to an existing item.
    case append
    /// Prepend the bytes to an existing item.
    case prepend

    var protocolToken: UInt8 {
        switch self {
        case .set: return UInt8(ascii: "S")
        case .add: return UInt8(ascii: "E")
        case .replace: return UInt8(ascii: "R")
        case .append: return UInt8(ascii: "A")
        case .prepend: return UInt8(ascii: "P")
        }
    }
}

/// One meta-protocol request, as the connection sends it.
struct MemcachedRequest: Sendable {
    enum Command: Sendable {
        /// `mg`: value, CAS, client flags and remaining TTL; optionally touching.
        case get(MemcachedKey, touch: MemcachedExpiration?)
        /// `mg` without value: touch only (or an existence check when `touch` is nil).
        case touch(MemcachedKey, MemcachedExpiration)
        /// `ms`.
        case store(MemcachedKey, value: ByteBuffer, mode: MemcachedStoreMode, expiration: MemcachedExpiration, flags: UInt32, cas: UInt64?)
        /// `md`.
        case delete(MemcachedKey, cas: UInt64?)
        /// `ma`: `initial` creates a missing item (autovivify) with that value and expiration.
        case arithmetic(MemcachedKey, increment: Bool, delta: UInt64, initial: (value: UInt64, expiration: MemcachedExpiration)?)
        /// `mn`: answered in order, so it proves the connection is alive and drained.
        case noop
        /// `version`.
        case version
        /// memcached's ASCII authentication (`-Y`): a classic `set` whose data is `username password`.
        case authenticate(MemcachedCredentials)
    }

    var command: Command

    /// Whether the reply echoes an opaque token (`mn`, `version` and the login carry none).
    var usesOpaque: Bool {
        switch command {
        case .noop, .version, .authenticate: return false
        default: return true
        }
    }
}

/// Writes requests in memcached's meta text protocol.
///
/// Pure byte translation: the opaque token and the clock (read only for expirations past 30 days)
/// are given by the caller, so the encoder holds no state and is trivially testable.
enum MemcachedRequestEncoder {
    static func encode(
        _ request: MemcachedRequest,
        opaque: UInt32,
        into buffer: inout ByteBuffer,
        now: () -> Int = MemcachedExpiration.currentUnixTime
    ) {
        switch request.command {
        case .get(let key, let touch):
            buffer.writeStaticString("mg ")
            buffer.writeString(key.rawValue)
            buffer.writeStaticString(" v c f t")
            if let touch { writeFlag(UInt8(ascii: "T"), touch.protocolValue(now: now), into: &buffer) }
            writeOpaque(opaque, into: &buffer)

        case .touch(let key, let expiration):
            buffer.writeStaticString("mg ")
            buffer.writeString(key.rawValue)
            writeFlag(UInt8(ascii: "T"), expiration.protocolValue(now: now), into: &buffer)
            writeOpaque(opaque, into: &buffer)

        case .store(let key, let value, let mode, let expiration, let flags, let cas):
            buffer.writeStaticString("ms ")
            buffer.writeString(key.rawValue)
            buffer.writeInteger(UInt8(ascii: " "))
            buffer.writeString(String(value.readableBytes))
            writeFlag(UInt8(ascii: "T"), expiration.protocolValue(now: now), into: &buffer)
            if flags != 0 { writeFlag(UInt8(ascii: "F"), flags, into: &buffer) }
            if mode != .set {
                buffer.writeStaticString(" M")
                buffer.writeInteger(mode.protocolToken)
            }
            if let cas { writeFlag(UInt8(ascii: "C"), cas, into: &buffer) }
            buffer.writeStaticString(" c")
            writeOpaque(opaque, into: &buffer)
            var value = value
            buffer.writeBuffer(&value)
            buffer.writeStaticString("\r\n")

        case .delete(let key, let cas):
            buffer.writeStaticString("md ")
            buffer.writeString(key.rawValue)
            if let cas { writeFlag(UInt8(ascii: "C"), cas, into: &buffer) }
            writeOpaque(opaque, into: &buffer)

        case .arithmetic(let key, let increment, let delta, let initial):
            buffer.writeStaticString("ma ")
            buffer.writeString(key.rawValue)
            buffer.writeStaticString(increment ? " MI" : " MD")
            writeFlag(UInt8(ascii: "D"), delta, into: &buffer)
            if let initial {
                writeFlag(UInt8(ascii: "N"), initial.expiration.protocolValue(now: now), into: &buffer)
                writeFlag(UInt8(ascii: "J"), initial.value, into: &buffer)
            }
            buffer.writeStaticString(" v")
            writeOpaque(opaque, into: &buffer)

        case .noop:
            buffer.writeStaticString("mn\r\n")

        case .version:
            buffer.writeStaticString("version\r\n")

        case .authenticate(let credentials):
            // The key, flags and expiration are ignored by the server; only the data counts.
            let data = credentials.username + " " + credentials.password
            buffer.writeStaticString("set auth 0 0 ")
            buffer.writeString(String(data.utf8.count))
            buffer.writeStaticString("\r\n")
            buffer.writeString(data)
            buffer.writeStaticString("\r\n")
        }
    }

    private static func writeFlag(_ flag: UInt8, _ value: some BinaryInteger, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeInteger(flag)
        buffer.writeString(String(value))
    }

    /// Ends the request line with the opaque token the reply must echo.
    private static func writeOpaque(_ opaque: UInt32, into buffer: inout ByteBuffer) {
        writeFlag(UInt8(ascii: "O"), opaque, into: &buffer)
        buffer.writeStaticString("\r\n")
    }
}
