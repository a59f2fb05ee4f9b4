import NIOCore
import NIOSSL
import ServerTestSupport
import Testing

@testable import RedisClient

/// `rediss://` against a real redis-server listening with TLS, its certificate signed by a CA
/// the test makes.
@Suite(.serialized) struct RedisTLSTests {
    private func withTLSServer(password: String? = nil, _ body: (RedisServerProcess, Int, TestCertificates) async throws -> Void) async throws {
        let certificates = try TestCertificates.make()
        let tlsPort = try FreeLoopbackPort.allocate()
        try await withRedisServer(password: password, extraArguments: certificates.redisArguments(tlsPort: tlsPort)) { server in
            try await body(server, tlsPort, certificates)
        }
    }

    private func configuration(trusting certificates: TestCertificates?) -> RedisClientConfiguration {
        var configuration = RedisClientConfiguration()
        configuration.connectionsPerNode = 1
        configuration.maximumReconnectDelay = .milliseconds(100)
        if let certificates {
            configuration.tlsConfiguration.trustRoots = .file(certificates.authorityCertificatePath)
        }
        return configuration
    }

    @Test func aTrustedServerCarriesCommandsEncryptedWithAuthAndDatabase() async throws {
        try await withTLSServer(password: "tls-secret") { server, tlsPort, certificates in
            for host in ["127.0.0.1", "localhost"] {
                let server = try RedisServer(url: "rediss://:tls-secret@\(host):\(tlsPort)/4")
                let client = try RedisClient(server: server, configuration: configuration(trusting: certificates))
                try await client.set("over-tls", value: ByteBuffer(string: host))
                #expect(try await client.get("over-tls") == ByteBuffer(string: host))
                await client.shutdown()
            }
            // It really went to database 4 through the TLS port.
            #expect(try await server.info("keyspace")["db4"]?.hasPrefix("keys=1") == true)
        }
    }

    @Test func anUntrustedCertificateIsAConnectFailureThatSaysSo() async throws {
        try await withTLSServer { _, tlsPort, _ in
            let server = try RedisServer(url: "rediss://127.0.0.1:\(tlsPort)")
            let client = try RedisClient(server: server, configuration: configuration(trusting: nil))
            defer { Task { await client.shutdown() } }
            let error = await #expect(throws: RedisError.self) { try await client.ping() }
            #expect(error?.code == .connectFailed)
            #expect(error?.isNodeFailure == true)
            #expect(error?.description.contains("rediss://127.0.0.1:\(tlsPort)") == true)
            #expect(error?.message.lowercased().contains("certificate") == true, "\(String(describing: error))")
        }
    }

    @Test func aTLSConfigurationThatCannotBeLoadedIsATypedError() throws {
        var configuration = RedisClientConfiguration()
        configuration.tlsConfiguration.trustRoots = .file("/nonexistent/ca.crt")
        let error = #expect(throws: RedisError.self) {
            try RedisClient(server: RedisServer(url: "rediss://127.0.0.1:1"), configuration: configuration)
        }
        #expect(error?.code == .invalidArgument)
        // Plain nodes never load it.
        _ = try RedisClient(server: RedisServer(url: "redis://127.0.0.1:1"), configuration: configuration)
    }
}
