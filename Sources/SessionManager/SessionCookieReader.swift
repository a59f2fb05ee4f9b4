/// Finds one cookie's value without parsing every cookie of the request into a dictionary:
/// this runs on every request, and apps often carry many cookies besides the session's. Shared
/// by the framework adapters.
package enum SessionCookieReader {
    package static func value(named name: String, in headers: [String]) -> String? {
        for header in headers {
            for pair in header.utf8.split(separator: UInt8(ascii: ";")) {
                var pair = pair[...]
                while pair.first == UInt8(ascii: " ") { pair = pair.dropFirst() }
                guard pair.count > name.utf8.count, pair.starts(with: name.utf8) else { continue }
                let rest = pair.dropFirst(name.utf8.count)
                guard rest.first == UInt8(ascii: "=") else { continue }
                var value = rest.dropFirst()
                while value.last == UInt8(ascii: " ") { value = value.dropLast() }
                if value.count >= 2, value.first == UInt8(ascii: "\""), value.last == UInt8(ascii: "\"") {
                    value = value.dropFirst().dropLast()
                }
                return String(decoding: value, as: UTF8.self)
            }
        }
        return nil
    }
}
