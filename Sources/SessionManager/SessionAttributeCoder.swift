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

    public func encode<Value: Encodable>(_ value: Value) throws -> [UInt8] {
        Array(try encoder.encode(value))
    }

    public func decode<Value: Decodable>(_ type: Value.Type, from bytes: [UInt8]) throws -> Value {
        try decoder.decode(type, from: Data(bytes))
    }
}
