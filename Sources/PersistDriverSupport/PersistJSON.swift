import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How both persist drivers put values into the store: JSON, like Hummingbird's own drivers
/// would serialize them, and any decoding failure reported as the framework's conversion error.
package enum PersistJSON {
    package static func encode(_ value: some Encodable) throws -> ByteBuffer {
        ByteBuffer(bytes: try JSONEncoder().encode(value))
    }

    package static func decode<Object: Decodable>(_ buffer: ByteBuffer, as type: Object.Type) throws -> Object {
        do {
            return try JSONDecoder().decode(type, from: Data(buffer.readableBytesView))
        } catch {
            // Not JSON, or JSON of another shape, or rejected by the type's own decoder.
            throw PersistError.invalidConversion
        }
    }
}
