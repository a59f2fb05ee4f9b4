/// The checks both clients make of a server's host and port before connecting, worded alike.
package enum ServerAddressRules {
    /// What is wrong with `host` and `port` (`nil`: nothing), with advice quoting `example`.
    /// - Parameter forbidden: characters besides whitespace and controls a host may not hold in
    ///   the client's address syntax.
    package static func problem(host: String, port: Int, forbidden: String, example: String) -> String? {
        guard !host.isEmpty else { return "empty host; write e.g. \(example)" }
        if let scalar = host.unicodeScalars.first(where: { isBlankOrControl($0) || forbidden.unicodeScalars.contains($0) }) {
            let shown =
                isBlankOrControl(scalar)
                ? "the whitespace or control character U+\(String(scalar.value, radix: 16, uppercase: true))" : "'\(scalar)'"
            return "host contains \(shown); write a plain host name or address, e.g. 127.0.0.1"
        }
        guard (1...65535).contains(port) else {
            return "port \(port) is out of range; write a port in 1...65535, e.g. \(example)"
        }
        return nil
    }

    private static func isBlankOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
    }
}
