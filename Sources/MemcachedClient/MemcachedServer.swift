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
        do throws(ServerAddressRules.Problem) {
            let (host, port) = try ServerAddressRules.hostAndPort(
                address[...], defaultPort: nil, example: "127.0.0.1:11211", ipv6Example: "[::1]:11211")
            self.init(host: host, port: port)
        } catch {
            throw Self.invalid(error.reason)
        }
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
}
