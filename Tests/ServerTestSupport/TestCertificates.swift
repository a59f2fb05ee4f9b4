import Foundation

/// A throwaway certificate authority, a server certificate it signed (for `127.0.0.1` and
/// `localhost` unless told otherwise) and a client certificate, made with the `openssl` command
/// for TLS tests. Files live in a fresh temporary
/// directory, removed when the object goes away.
public final class TestCertificates: Sendable {
    /// The directory holding every file.
    public let directory: String
    /// PEM of the authority clients must trust.
    public var authorityCertificatePath: String { directory + "/ca.crt" }
    /// PEM of the server's certificate.
    public var serverCertificatePath: String { directory + "/server.crt" }
    /// PEM of the server's private key.
    public var serverKeyPath: String { directory + "/server.key" }
    /// PEM of a client certificate the same authority signed (for servers that ask for one).
    public var clientCertificatePath: String { directory + "/client.crt" }
    /// PEM of the client certificate's private key.
    public var clientKeyPath: String { directory + "/client.key" }

    private init(directory: String) {
        self.directory = directory
    }

    /// Makes the authority, the server certificate for `serverNames` (a `subjectAltName` value)
    /// and a client certificate (EC P-256, valid two days).
    /// - Throws: ``TestServerError`` when `openssl` is missing or fails.
    public static func make(serverNames: String = "IP:127.0.0.1,DNS:localhost") throws -> TestCertificates {
        let directory = NSTemporaryDirectory() + "msm-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try "subjectAltName=\(serverNames)\n".write(toFile: directory + "/san.ext", atomically: true, encoding: .utf8)
        let key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        try openssl(
            ["req", "-x509"] + key + ["-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=msm test authority"], in: directory)
        try openssl(["req"] + key + ["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"], in: directory)
        try openssl(
            [
                "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.crt", "-days", "2", "-extfile", "san.ext",
            ],
            in: directory
        )
        try openssl(["req"] + key + ["-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=msm test client"], in: directory)
        try openssl(
            ["x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt", "-days", "2"],
            in: directory
        )
        return certificates
    }

    /// The arguments that make memcached speak only TLS (`-Z`) with these files; with
    /// `requireClientCertificate` it also refuses clients without a certificate of this authority.
    public func memcachedArguments(requireClientCertificate: Bool = false) -> [String] {
        var options = "ssl_chain_cert=\(serverCertificatePath),ssl_key=\(serverKeyPath)"
        if requireClientCertificate { options += ",ssl_verify_mode=2,ssl_ca_cert=\(authorityCertificatePath)" }
        return ["-Z", "-o", options]
    }

    /// The arguments that make a redis-server also listen with TLS on `port` using these files
    /// (clients are not asked for certificates).
    public func redisArguments(tlsPort port: Int) -> [String] {
        [
            "--tls-port", String(port), "--tls-cert-file", serverCertificatePath, "--tls-key-file", serverKeyPath,
            "--tls-ca-cert-file", authorityCertificatePath, "--tls-auth-clients", "no",
        ]
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func openssl(_ arguments: [String], in directory: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do {
            try process.run()
        } catch {
            throw TestServerError("cannot run openssl: \(error); install it with `apt-get install openssl` (make test does)")
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestServerError("openssl \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(text.suffix(1000))")
        }
    }
}
