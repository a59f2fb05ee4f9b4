import NIOCore

/// How a client talks to its server. The defaults follow msm's where it has one.
public struct MemcachedClientConfiguration: Sendable {
    /// Connections kept to the server, used round-robin (the name is msm's: one client per node). Each carries many pipelined requests, so a
    /// few suffice; more only help when one connection's event loop is the bottleneck. Default 2.
    public var connectionsPerNode: Int = 2

    /// The longest a caller waits for a reply (msm's `operationTimeout`). A node that stays
    /// silent that long has its connection reset. Default 1 s.
    public var operationTimeout: Duration = .milliseconds(1000)

    /// The longest a TCP connect may take. Default 1 s.
    public var connectTimeout: Duration = .milliseconds(1000)

    /// Wait after the first failed connect; doubled on each further failure. Default 50 ms.
    public var initialReconnectDelay: Duration = .milliseconds(50)

    /// Cap on the reconnect delay (msm's `msm.maxReconnectDelay`). Default 30 s.
    public var maximumReconnectDelay: Duration = .seconds(30)

    /// Largest value sent or accepted, in bytes: memcached's own ceiling (`-I 1024m`) by default.
    /// Lower it to bound the memory a misbehaving server can make the client allocate.
    public var maximumValueLength: Int = 1 << 30

    /// memcached's ASCII authentication (`memcached -Y FILE`): every new connection logs in with
    /// these before its first request. `nil` (the default): no authentication.
    public var credentials: MemcachedCredentials?

    /// What `useTLS(_:)` (product `MemcachedTLS`) installs below the protocol; `nil`: plain TCP.
    package var transportSecurity: MemcachedTransportSecurity?

    /// Whether connections are encrypted: `useTLS(_:)` of the `MemcachedTLS` product turns it on.
    public var usesTLS: Bool { transportSecurity != nil }

    /// The defaults above.
    public init() {}

    func validated() throws(MemcachedError) -> Self {
        func reject(_ setting: String, _ rule: String) -> MemcachedError {
            MemcachedError(.invalidValue, "configuration \(setting) \(rule)")
        }
        guard connectionsPerNode >= 1 else { throw reject("connectionsPerNode", "must be at least 1") }
        guard operationTimeout > .zero else { throw reject("operationTimeout", "must be positive") }
        guard connectTimeout > .zero else { throw reject("connectTimeout", "must be positive") }
        guard initialReconnectDelay > .zero, maximumReconnectDelay >= initialReconnectDelay else {
            throw reject("initialReconnectDelay/maximumReconnectDelay", "must be positive, the maximum not below the initial")
        }
        guard maximumValueLength > 0 else { throw reject("maximumValueLength", "must be positive") }
        return self
    }
}

/// The channel setup a transport-security product puts below the memcached protocol handler,
/// given the server's host to verify.
package struct MemcachedTransportSecurity: Sendable {
    package var configure: @Sendable (_ channel: any Channel, _ host: String) throws -> Void

    package init(configure: @escaping @Sendable (_ channel: any Channel, _ host: String) throws -> Void) {
        self.configure = configure
    }
}
