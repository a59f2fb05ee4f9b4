import Foundation

/// Turns typed attribute values into the bytes a session stores, and back.
///
/// Values are encoded when set, so the session can tell a real change from a rewrite of the same
/// value by comparing bytes (msm's hash check), and an app server never needs the others' types.
public protocol SessionAttributeCoder: Sendable {
    /// Encodes a value.
    func encode<Value: Encodable>(_ value: Value) throws -> [UInt8]
    /// Decodes a value; throws when the bytes are not a `Value`.
    func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value
}

/// JSON, the default: readable in the store, tolerant of added fields, safe across versions.
public struct JSONSessionAttributeCoder: SessionAttributeCoder {
    private let encoder: JSONEncoder
    private let decoder = JSONDecoder()

    /// Creates the coder.
    public init() {
        encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys  // equal values, equal bytes: no false "changed"
    }

    // Int and String, the usual attribute types, skip Foundation's coders (a few percent of a
    // request's CPU in the demo) where the result is byte for byte what those would produce;
    // anything else takes the coders.

    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        if Value.self == Int.self { return Array(String(unsafeBitCast(value, to: Int.self)).utf8) }
        if Value.self == String.self, let quoted = JSONText.quotedWithoutEscapes(unsafeBitCast(value, to: String.self)) {
            return quoted
        }
        return Array(try encoder.encode(value))
    }

    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        if Value.self == Int.self, let integer = JSONText.integer(bytes) { return unsafeBitCast(integer, to: Value.self) }
        if Value.self == String.self, let string = JSONText.stringWithoutEscapes(bytes) { return unsafeBitCast(string, to: Value.self) }
        return try decoder.decode(type, from: Data(bytes))
    }
}

/// The JSON texts the fast paths handle; `nil` for everything else, which Foundation's coders take.
enum JSONText {
    /// `"text"` when no character of `text` needs escaping for JSONEncoder (printable ASCII other
    /// than `"`, `\` and `/`, which it writes as `\/`).
    static func quotedWithoutEscapes(_ text: String) -> [UInt8]? {
        var bytes: [UInt8] = [UInt8(ascii: "\"")]
        bytes.reserveCapacity(text.utf8.count + 2)
        for byte in text.utf8 {
            guard byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\"), byte != UInt8(ascii: "/") else {
                return nil
            }
            bytes.append(byte)
        }
        bytes.append(UInt8(ascii: "\""))
        return bytes
    }

    /// The string of a quoted JSON text of printable ASCII without escapes.
    static func stringWithoutEscapes(_ bytes: [UInt8]) -> String? {
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "\""), bytes.last == UInt8(ascii: "\"") else { return nil }
        let inner = bytes[1..<(bytes.count - 1)]
        guard inner.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") }) else { return nil }
        return String(decoding: inner, as: UTF8.self)
    }

    /// A JSON integer of at most 18 digits (9 where `Int` has 32 bits: no overflow possible),
    /// without leading zeros, as JSON requires.
    static func integer(_ bytes: [UInt8]) -> Int? {
        let negative = bytes.first == UInt8(ascii: "-")
        let digits = bytes.dropFirst(negative ? 1 : 0)
        guard (1...(Int.bitWidth == 64 ? 18 : 9)).contains(digits.count), digits.first != UInt8(ascii: "0") || digits.count == 1 else { return nil }
        var value = 0
        for byte in digits {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return negative ? -value : value
    }
}
