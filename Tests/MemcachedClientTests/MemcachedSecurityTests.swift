import Foundation
import MemcachedTLS
import NIOCore
import NIOSSL
import ServerTestSupport
import Testing

@testable import MemcachedClient

/// memcached's ASCII authentication (`-Y`) and TLS (`-Z`) against real memcached processes,
/// with certificates the test makes with openssl.
@Suite(.serialized) struct MemcachedSecurityTests {
    private static let authFileLines = "alice:wonder-land\nbob:builder\n"

    private func withAuthenticatingServer(
        tls certificates: TestCertificates? = nil, _ body: (MemcachedServerProcess) async throws -> Void
    ) async throws {
        let file = NSTemporaryDirectory() + "msm-memcached-auth-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try Self.authFileLines.write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        try await withMemcachedServer(extraArguments: ["-Y", file] + (certificates?.memcachedArguments() ?? [])) { try await body($0) }
    }

    private func configuration(
        credentials: MemcachedCredentials? = nil, trusting certificates: TestCertificates? = nil, clientCertificate: Bool = false
    ) throws -> MemcachedClientConfiguration {
        var configuration = MemcachedClientConfiguration()
        configuration.connectionsPerNode = 1
        configuration.maximumReconnectDelay = .milliseconds(100)
        configuration.credentials = credentials
        if let certificates {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(certificates.authorityCertificatePath)
            if clientCertificate {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificates.clientCertificatePath).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: certificates.clientKeyPath, format: .pem))
            }
            try configuration.useTLS(tls)
        }
        return configuration
    }

    private func roundTrip(_ client: MemcachedClient, _ text: String) async throws {
        try await client.set(MemcachedKey("secured"), value: ByteBuffer(string: text))
        #expect(try await client.get(MemcachedKey("secured"))?.value == ByteBuffer(string: text))
    }

    // MARK: Authentication

    @Test func rightCredentialsLogInOnEveryConnection() async throws {
        try await withAuthenticatingServer { server in
            var settings = try configuration(credentials: try MemcachedCredentials(username: "bob", password: "builder"))
            settings.connectionsPerNode = 3
            let client = try MemcachedClient(server: MemcachedServer(host: server.host, port: server.port), configuration: settings)
            for round in 0..<6 { try await roundTrip(client, "round \(round)") }
            await client.shutdown()
        }
    }

    @Test func aWrongPasswordIsAnAuthenticationFailureNamingTheNodeNotThePassword() async throws {
        try await withAuthenticatingServer { server in
            let credentials = try MemcachedCredentials(username: "alice", password: "through-the-looking-glass")
            let client = try MemcachedClient(
                server: MemcachedServer(host: server.host, port: server.port), configuration: try configuration(credentials: credentials))
            defer { Task { await client.shutdown() } }
            let error = await #expect(throws: MemcachedError.self) { try await roundTrip(client, "never stored") }
            #expect(error?.code == .authenticationFailed)
            #expect(error?.isNodeFailure == true)
            #expect(error?.description.contains(server.endpoint) == true, "\(String(describing: error))")
            #expect(error?.description.contains("looking-glass") == false)
            #expect(error?.description.contains("MSM_MEMCACHED_PASSWORD") == true, "says what to set")
        }
    }

    @Test func noCredentialsForAServerThatWantsThemSaysSo() async throws {
        try await withAuthenticatingServer { server in
            let client = try MemcachedClient(server: MemcachedServer(host: server.host, port: server.port), configuration: try configuration())
            defer { Task { await client.shutdown() } }
            let error = await #expect(throws: MemcachedError.self) { try await roundTrip(client, "never stored") }
            #expect(error?.code == .authenticationFailed)
            #expect(error?.message.contains("requires authentication") == true, "\(String(describing: error))")
        }
    }

    /// The login is a `set` to memcached: one without `-Y` would store it as an item anyone can read.
    @Test func credentialsAreNeverSentToAServerThatDoesNotAskForThem() async throws {
        try await withMemcachedServer { server in
            let credentials = try MemcachedCredentials(username: "alice", password: "wonder-land")
            let client = try MemcachedClient(
                server: MemcachedServer(host: server.host, port: server.port), configuration: try configuration(credentials: credentials))
            try await roundTrip(client, "no login wanted")
            #expect(try await client.get(MemcachedKey("auth")) == nil, "the credentials were stored as an item")
            #expect(try await server.stats()["cmd_set"] == "1", "only the round trip's own set reached memcached")
            await client.shutdown()
        }
    }

    /// A server that accepts the connection and then says nothing (SIGSTOP): the login handshake
    /// is bounded by the operation timeout and reported as a connect failure.
    @Test func aSilentServerFailsTheLoginWithinTheTimeout() async throws {
        try await withAuthenticatingServer { server in
            var settings = try configuration(credentials: try MemcachedCredentials(username: "bob", password: "builder"))
            settings.operationTimeout = .milliseconds(200)
            settings.connectTimeout = .milliseconds(200)
            let client = try MemcachedClient(server: MemcachedServer(host: server.host, port: server.port), configuration: settings)
            server.suspend()
            defer { server.resume() }
            let clock = ContinuousClock()
            let started = clock.now
            let error = await #expect(throws: MemcachedError.self) { try await client.noop() }
            #expect(error?.code == .connectFailed, "\(String(describing: error))")
            #expect(error?.message.contains("checking whether memcached wants a login") == true, "\(String(describing: error))")
            #expect(clock.now - started < .seconds(3))
            server.resume()
            try await Task.sleep(for: .milliseconds(300))  // past the reconnect backoff
            try await roundTrip(client, "after the server came back")
            await client.shutdown()
        }
    }

    /// Without credentials configured, a `-Y` server's refusal reaches every operation as
    /// `authenticationFailed`, whether it carries an opaque token (`ms`) or not (`mn`).
    @Test func everyOperationOfAnUnauthenticatedClientSaysWhy() async throws {
        try await withAuthenticatingServer { server in
            let client = try MemcachedClient(server: MemcachedServer(host: server.host, port: server.port), configuration: try configuration())
            let noop = await #expect(throws: MemcachedError.self) { try await client.noop() }
            #expect(noop?.code == .authenticationFailed, "\(String(describing: noop))")
            let version = await #expect(throws: MemcachedError.self) { _ = try await client.version() }
            #expect(version?.code == .authenticationFailed, "\(String(describing: version))")
            await client.shutdown()
        }
    }

    @Test func credentialsNeverShowTheirPassword() throws {
        let credentials = try MemcachedCredentials(username: "alice", password: "wonder-land")
        var dumped = ""
        dump(credentials, to: &dumped)
        for shown in ["\(credentials)", String(reflecting: credentials), dumped] {
            #expect(!shown.contains("wonder"), "\(shown)")
            #expect(shown.contains("alice"))
        }
    }

    @Test(arguments: [("", "pw"), ("al ice", "pw"), ("alice", "pass word"), ("alice", "pw\r\nflush_all"), ("a:b", "pw"), ("alice", "")])
    func credentialsThatCannotBeSentAreRefused(username: String, password: String) {
        let error = #expect(throws: MemcachedError.self) { try MemcachedCredentials(username: username, password: password) }
        #expect(error?.code == .invalidValue)
        if password.count > 2 { #expect(error?.description.contains(password) == false) }
    }

    // MARK: TLS

    @Test func aTrustedServerCarriesRequestsEncrypted() async throws {
        let certificates = try TestCertificates.make()
        try await withMemcachedServer(extraArguments: certificates.memcachedArguments()) { server in
            for host in ["127.0.0.1", "localhost"] {
                let client = try MemcachedClient(
                    server: MemcachedServer(host: host, port: server.port), configuration: try configuration(trusting: certificates))
                try await roundTrip(client, "over TLS to \(host)")
                await client.shutdown()
            }
            // A plain client gets nowhere: the port speaks only TLS.
            let plain = try MemcachedClient(server: MemcachedServer(host: server.host, port: server.port), configuration: try configuration())
            await #expect(throws: MemcachedError.self) { try await roundTrip(plain, "plain") }
            await plain.shutdown()
        }
    }

    @Test func anUntrustedCertificateIsAConnectFailureThatSaysSo() async throws {
        let certificates = try TestCertificates.make()
        try await withMemcachedServer(extraArguments: certificates.memcachedArguments()) { server in
            var settings = try configuration()
            try settings.useTLS()  // the system's roots: our CA is not among them
            let client = try MemcachedClient(server: MemcachedServer(host: server.host, port: server.port), configuration: settings)
            defer { Task { await client.shutdown() } }
            let error = await #expect(throws: MemcachedError.self) { try await client.noop() }
            #expect(error?.code == .connectFailed)
            #expect(error?.description.contains(server.endpoint) == true)
            #expect(error?.message.lowercased().contains("certificate") == true, "\(String(describing: error))")
        }
    }

    @Test func aHostNameMismatchIsAConnectFailure() async throws {
        let certificates = try TestCertificates.make(serverNames: "DNS:cache.example.org")
        try await withMemcachedServer(extraArguments: certificates.memcachedArguments()) { server in
            let client = try MemcachedClient(
                server: MemcachedServer(host: server.host, port: server.port), configuration: try configuration(trusting: certificates))
            defer { Task { await client.shutdown() } }
            let error = await #expect(throws: MemcachedError.self) { try await client.noop() }
            #expect(error?.code == .connectFailed, "\(String(describing: error))")
            #expect(error?.message.contains("Hostname") == true, "the host name check failed, nothing else: \(String(describing: error))")
        }
    }

    @Test func aClientCertificateWhenTheServerAsksForOne() async throws {
        let certificates = try TestCertificates.make()
        try await withMemcachedServer(extraArguments: certificates.memcachedArguments(requireClientCertificate: true)) { server in
            let address = MemcachedServer(host: server.host, port: server.port)
            let anonymous = try MemcachedClient(server: address, configuration: try configuration(trusting: certificates))
            let refused = await #expect(throws: MemcachedError.self) { try await roundTrip(anonymous, "refused") }
            #expect(refused?.message.contains("CERTIFICATE_REQUIRED") == true, "\(String(describing: refused))")
            await anonymous.shutdown()

            let identified = try MemcachedClient(server: address, configuration: try configuration(trusting: certificates, clientCertificate: true))
            try await roundTrip(identified, "with a client certificate")
            await identified.shutdown()
        }
    }

    @Test func authenticationOverTLS() async throws {
        let certificates = try TestCertificates.make()
        try await withAuthenticatingServer(tls: certificates) { server in
            let credentials = try MemcachedCredentials(username: "alice", password: "wonder-land")
            let client = try MemcachedClient(
                server: MemcachedServer(host: server.host, port: server.port),
                configuration: try configuration(credentials: credentials, trusting: certificates))
            try await roundTrip(client, "both")
            await client.shutdown()
        }
    }

    @Test func aTLSConfigurationThatCannotBeLoadedIsATypedError() throws {
        var configuration = MemcachedClientConfiguration()
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .file("/nonexistent/ca.crt")
        let error = #expect(throws: MemcachedError.self) { try configuration.useTLS(tls) }
        #expect(error?.code == .invalidValue)
        #expect(!configuration.usesTLS)
    }
}
