import Foundation
import Testing

@testable import SessionManager

/// The JSON coder's fast paths for `Int` and `String` give exactly Foundation's bytes and values,
/// and leave everything they do not cover to Foundation (same result, same errors).
@Suite struct SessionAttributeCoderTests {
    let coder = JSONSessionAttributeCoder()
    let foundationEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    static let integers = [0, 1, -1, 7, 42, 1_000, -99_999, 123_456_789_012_345_678, Int.max, Int.min]
    static let strings = [
        "", "a", "hello world", "a/b", "quote\"d", "back\\slash", "tab\there", "line\nbreak", "ünïcödé", "emoji 🎉", "\u{7F}",
        "{}[]:,", "<script>", "  spaced  ",
    ]

    @Test func integersEncodeAsFoundationDoes() throws {
        for value in Self.integers {
            #expect(try coder.encode(value) == Array(foundationEncoder.encode(value)), "\(value)")
            #expect(try coder.decode(Int.self, from: coder.encode(value)) == value)
        }
    }

    @Test func stringsEncodeAsFoundationDoes() throws {
        for value in Self.strings {
            #expect(try coder.encode(value) == Array(foundationEncoder.encode(value)), "\(value.debugDescription)")
            #expect(try coder.decode(String.self, from: coder.encode(value)) == value)
        }
    }

    /// JSON texts decoded as Int or String: the same value, or an error exactly where Foundation fails.
    @Test(arguments: [
        "0", "-0", "12", "-12", "007", "1.0", "1e3", " 5", "5 ", "+5", "-", "", "123456789012345678", "1234567890123456789",
        "99999999999999999999", "\"12\"", "\"plain\"", "\"esc\\\"aped\"", "\"a\\/b\"", "\"\\u0041\"", "\"ü\"", "\"open", "null", "true",
    ])
    func decodingMatchesFoundation(text: String) {
        let bytes = Array(text.utf8)
        let foundation = JSONDecoder()
        let ours = (try? coder.decode(Int.self, from: bytes)) as Int?
        let theirs = try? foundation.decode(Int.self, from: Data(bytes))
        #expect(ours == theirs, "Int from \(text.debugDescription)")
        let ourString = try? coder.decode(String.self, from: bytes)
        let theirString = try? foundation.decode(String.self, from: Data(bytes))
        #expect(ourString == theirString, "String from \(text.debugDescription)")
    }
}
