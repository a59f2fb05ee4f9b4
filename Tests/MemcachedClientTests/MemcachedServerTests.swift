import MemcachedClient
import PipelinedConnections
import Testing

/// A server address as the client itself reads and checks it (the node list wraps these errors).
@Suite struct MemcachedServerTests {
    @Test(arguments: [("127.0.0.1:11211", "127.0.0.1", 11211), ("[::1]:2", "::1", 2), ("cache.example:65535", "cache.example", 65535)])
    func parsesHostAndPort(address: String, host: String, port: Int) throws {
        let server = try MemcachedServer(parsing: address)
        #expect(server == MemcachedServer(host: host, port: port))
        #expect(server.description == address, "the description parses back")
    }

    @Test(arguments: ["", "h", "h:", "h:0", "h:70000", "h:x", "::1:11211", "[::1:11211", "[]:1", "[h]:1", "a b:1", "a,b:1"])
    func badAddressesAreInvalidAddressErrors(address: String) {
        let error = #expect(throws: MemcachedError.self) { try MemcachedServer(parsing: address) }
        #expect(error?.code == .invalidAddress)
    }

    @Test func aServerMadeInCodeIsCheckedByTheClient() {
        for server in [MemcachedServer(host: "", port: 1), MemcachedServer(host: "a b", port: 1), MemcachedServer(host: "h", port: 0)] {
            let error = #expect(throws: MemcachedError.self, "\(server)") { try MemcachedClient(server: server) }
            #expect(error?.code == .invalidAddress)
        }
    }

    /// `msm serve` warns about unencrypted sessions on any node this does not call loopback.
    @Test func loopbackHostsAreOnlyThoseThatCannotLeaveTheMachine() {
        for host in ["localhost", "LOCALHOST.", "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"] {
            #expect(ServerAddressRules.isLoopback(host), "\(host)")
        }
        for host in [
            "10.0.0.5", "cache.internal", "localhost.example.org", "128.0.0.1", "127.0.0", "127.0.0.256", "::2", "::ffff:10.0.0.1", "0.0.0.0",
        ] {
            #expect(!ServerAddressRules.isLoopback(host), "\(host)")
        }
    }
}
