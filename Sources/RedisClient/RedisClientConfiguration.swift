import NIOSSL

/// How a client talks to its server. The defaults match `MemcachedClient`'s, so a session
/// store behaves the same on either backend.
public struct RedisClientConfiguration: Sendable {
    /// Connections kept to the server, used round-robin (the name is msm's: one client per node). Each carries many pipelined requests, so a
    /// few suffice. Default 2.
    public var connectionsPerNode: Int = 2

    /// The longest a caller waits for a reply. A node silent that long has its connection reset.
    /// Default 1 s.
    public var operationTimeout: Duration = .milliseconds(1000)

    /// The longest a TCP connect may take; `AUTH` and `SELECT` then each get the operation
    /// timeout. Default 1 s.
    public var connectTimeout: Duration = .milliseconds(1000)

    /// Wait after the first failed connect; doubled on each further failure. Default 50 ms.
    public var initialReconnectDelay: Duration = .milliseconds(50)

    /// Cap on the reconnect delay. Default 30 s.
    public var maximumReconnectDelay: Duration = .seconds(30)

    /// Largest value sent or accepted, in bytes: Redis' own `proto-max-bulk-len` (512 MiB) by
    /// default. Lower it to bound the memory a misbehaving server can make the client allocate,
    /// and to a server's lowered `proto-max-bulk-len`, so a longer value is refused before it is
    /// sent (Redis refuses it too, but by closing the connection).
    public var maximumValueLength: Int = 512 * 1024 * 1024

    /// How a `rediss://` server is verified: the system's trust roots and the host name by default.
    /// For a private CA set `trustRoots` (e.g. `.file("/etc/redis/ca.crt")`); for mutual TLS set
    /// `certificateChain` and `privateKey`. Unused for `redis://` servers.
    public var tlsConfiguration: TLSConfiguration = .makeClientConfiguration()

    /// The defaults above.
    public init() {}

    func validated() throws(RedisError) -> Self {
        func reject(_ setting: String, _ rule: String) -> RedisError {
            RedisError(.invalidArgument, "configuration \(setting) \(rule)")
        }
        guard connectionsPerNode >= 1 else { throw reject("connectionsPerNode", "must be at least 1") }
        guard operationTimeout > .zero else { throw reject("operationTimeout", "must be positive") }
        guard connectTimeout > .zero else { throw reject("connectTimeout", "must be positive") }
        guard initialReconnectDelay > .zero, maximumReconnectDelay >= initialReconnectDelay else {
            throw reject("initialReconnectDelay/maximumReconnectDelay", "must be positive, the maximum not below the initial")
        }
        guard maximumValueLength > 0, maximumValueLength <= RESPCommand.maximumKeyOrValueLength else {
            throw reject("maximumValueLength", "must be between 1 and \(RESPCommand.maximumKeyOrValueLength)")
        }
        return self
    }
}
