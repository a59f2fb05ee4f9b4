import PipelinedConnections

/// Where a memcached server listens.
public struct MemcachedServer: Sendable, Hashable, CustomStringConvertible {
    /// memcached's standard port.
    public static let defaultPort = 11211

    /// The host name or address; an IPv6 literal is stored without brackets, e.g. `::1`.
    public var host: String
    /// The TCP port, 1...65535.
    public var port: Int

    /// A server by host and port, unchecked; ``MemcachedClient`` checks it.
    public init(host: String, port: Int = MemcachedServer.defaultPort) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, IPv6 hosts in brackets (`[::1]:11211`).
    /// - Throws: ``MemcachedError/Code/invalidAddress`` saying what to write instead.
    public init(parsing address: String) throws(MemcachedError) {
        try Self.checkBrackets(address)
        guard let portColon = Self.lastColonOutsideBrackets(in: address) else {
            throw Self.invalid("missing port; write host:port, e.g. 127.0.0.1:11211")
        }
        let portText = address[address.index(after: portColon)...]
        guard !portText.isEmpty else { throw Self.invalid("missing port after the last ':'; write e.g. 127.0.0.1:11211") }
        guard portText.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), let port = Int(portText) else {
            throw Self.invalid("port '\(portText)' is not a decimal number; write a port in 1...65535, e.g. 127.0.0.1:11211")
        }
        self.init(host: try Self.host(in: address[..<portColon]), port: port)
        try validate()
    }

    /// `host:port`, IPv6 hosts in brackets: what ``init(parsing:)`` reads back.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Throws when the host cannot be a host or the port is out of range.
    public func validate() throws(MemcachedError) {
        if let problem = ServerAddressRules.problem(host: host, port: port, forbidden: ",[]", example: "127.0.0.1:11211") {
            throw Self.invalid(problem)
        }
    }

    private static func invalid(_ reason: String) -> MemcachedError {
        MemcachedError(.invalidAddress, reason)
    }

    /// What precedes the port: a plain host, or an IPv6 address in brackets.
    private static func host(in text: Substring) throws(MemcachedError) -> String {
        guard text.hasPrefix("[") || text.hasSuffix("]") else {
            if text.contains(":") {
                throw invalid("too many ':' for host:port; IPv6 hosts must be in brackets, e.g. [::1]:11211")
            }
            return String(text)
        }
        guard text.hasPrefix("["), text.hasSuffix("]") else { throw bracketError }
        let host = text.dropFirst().dropLast()
        guard !host.isEmpty else { throw invalid("empty IPv6 address in brackets; write e.g. [::1]:11211") }
        guard host.contains(":") else { throw invalid("brackets are only for IPv6 addresses; write '\(host)' without brackets") }
        return String(host)
    }

    /// Brackets come in single, unnested `[` `]` pairs.
    private static func checkBrackets(_ text: String) throws(MemcachedError) {
        var open = false
        for character in text {
            switch character {
            case "[" where !open: open = true
            case "]" where open: open = false
            case "[", "]": throw bracketError
            default: continue
            }
        }
        if open { throw bracketError }
    }

    private static var bracketError: MemcachedError {
        invalid("unbalanced or misplaced brackets; write IPv6 hosts as [::1]:11211")
    }

    /// The last `:` not inside `[...]`; the port follows it.
    private static func lastColonOutsideBrackets(in text: String) -> String.Index? {
        var inside = false
        var found: String.Index?
        for index in text.indices {
            switch text[index] {
            case "[": inside = true
            case "]": inside = false
            case ":" where !inside: found = index
            default: continue
            }
        }
        return found
    }
}
