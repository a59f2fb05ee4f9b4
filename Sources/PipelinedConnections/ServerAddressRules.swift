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

    /// Whether `host` is certainly this machine: `localhost`, 127.0.0.0/8, `::1` or an IPv4-mapped
    /// 127.x address. Any other name may resolve anywhere, so it is not.
    package static func isLoopback(_ host: String) -> Bool {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        if name == "localhost" || name == "::1" || name == "0:0:0:0:0:0:0:1" { return true }
        if name.hasPrefix("::ffff:") { name.removeFirst("::ffff:".count) }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    private static func isBlankOrControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
    }
}

extension ServerAddressRules {
    /// What is wrong with an address, in words; each client throws it as its own error.
    package struct Problem: Error {
        package var reason: String
    }

    /// `host:port`, `[v6]:port`, and, when there is a `defaultPort`, `host` or `[v6]` alone.
    /// The port's range is ``problem(host:port:forbidden:example:)``'s to check.
    /// - Parameters:
    ///   - example: a whole address for advice, `127.0.0.1:11211`.
    ///   - ipv6Example: an IPv6 address for advice, `[::1]:11211`.
    package static func hostAndPort(
        _ text: Substring, defaultPort: Int?, example: String, ipv6Example: String
    ) throws(Problem) -> (host: String, port: Int) {
        let bracketProblem = Problem(reason: "unbalanced or misplaced brackets; write IPv6 hosts as \(ipv6Example)")
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bracketProblem }
            let host = text[text.index(after: text.startIndex)..<close]
            guard !host.isEmpty else { throw Problem(reason: "empty IPv6 address in brackets; write e.g. \(ipv6Example)") }
            guard host.contains(":") else { throw Problem(reason: "brackets are only for IPv6 addresses; write '\(host)' without brackets") }
            let after = text[text.index(after: close)...]
            if after.isEmpty { return (String(host), try port(after, defaultPort: defaultPort, example: example)) }
            guard after.hasPrefix(":") else { throw bracketProblem }
            return (String(host), try port(after.dropFirst(), afterColon: true, defaultPort: defaultPort, example: example))
        }
        if text.contains("[") || text.contains("]") { throw bracketProblem }
        if text.count(where: { $0 == ":" }) > 1 {
            throw Problem(reason: "too many ':' for host:port; IPv6 hosts must be in brackets, e.g. \(ipv6Example)")
        }
        guard let colon = text.firstIndex(of: ":") else {
            return (String(text), try port(text[text.endIndex...], defaultPort: defaultPort, example: example))
        }
        return (String(text[..<colon]), try port(text[text.index(after: colon)...], afterColon: true, defaultPort: defaultPort, example: example))
    }

    /// Plain ASCII decimal digits; nothing means the default port, if there is one.
    private static func port(_ text: Substring, afterColon: Bool = false, defaultPort: Int?, example: String) throws(Problem) -> Int {
        guard !text.isEmpty else {
            if !afterColon, let defaultPort { return defaultPort }
            let drop = defaultPort == nil ? "" : ", or drop the ':'"
            throw Problem(
                reason: afterColon ? "missing port after ':'; write e.g. \(example)\(drop)" : "missing port; write host:port, e.g. \(example)")
        }
        guard text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), let port = Int(text) else {
            throw Problem(reason: "port '\(text)' is not a decimal number; write a port in 1...65535, e.g. \(example)")
        }
        return port
    }
}
