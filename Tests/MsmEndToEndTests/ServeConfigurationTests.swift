import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `msm serve` takes every flag from the environment too, says clearly what is missing, picks
/// the Redis store for `redis://` nodes, and never shows a Redis password.
@Suite(.serialized) struct ServeConfigurationTests {
    private func run(_ arguments: [String], environment: [String: String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DemoClusterProcess.msmBinary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MSM_") }.merging(environment) { $1 }
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        try process.run()
        return process
    }

    /// `GET /myapp/` once msm serve answers on `port`; `nil` after 15 s, or as soon as `process`
    /// (when given) has exited.
    private func firstPage(port: Int, from process: Process? = nil) async throws -> HTTPReply? {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(15)
        while clock.now < deadline {
            if let reply = try? HTTPTestClient.request(port: port, path: "/myapp/") { return reply }
            if let process, !process.isRunning { return nil }
            try await Task.sleep(for: .milliseconds(100))
        }
        return nil
    }

    @Test(arguments: ["hummingbird", "vapor"])
    func everySettingCanComeFromTheEnvironment(framework: String) async throws {
        try await withMemcachedServer { memcached in
            // A free port can be taken by a parallel suite before msm binds it: then a new one.
            var answer: HTTPReply?
            var errors = ""
            for _ in 0..<3 where answer == nil {
                let port = try FreeLoopbackPort.allocate()
                let serve = try run(
                    ["serve"],
                    environment: [
                        "MSM_PORT": "\(port)", "MSM_ROUTE": "Z", "MSM_MEMCACHED_NODES": "n1:\(memcached.endpoint)",
                        "MSM_STICKY": "false", "MSM_LOCKING_MODE": "all", "MSM_COOKIE_NAME": "ENVSESSION", "MSM_LOG_LEVEL": "warning",
                        "MSM_FRAMEWORK": framework,
                    ])
                answer = try await firstPage(port: port, from: serve)
                serve.terminate()
                serve.waitUntilExit()
                if answer == nil, let stderr = (serve.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() {
                    errors += String(decoding: stderr, as: UTF8.self)
                }
            }
            let page = try #require(answer, "msm serve did not answer on MSM_PORT: \(errors)")
            #expect(page.json["servedBy"] as? String == "Z")
            #expect(page.json["node"] as? String == "n1")
            let cookie = try #require(page.setCookie("ENVSESSION"))
            #expect(cookie.hasSuffix("-n1.Z"))
        }
    }

    @Test func missingNodesAreAClearErrorNotAStart() async throws {
        let serve = try run(["serve", "--port", "\(try FreeLoopbackPort.allocate())"], environment: [:])
        serve.waitUntilExit()
        #expect(serve.terminationStatus != 0)
        let stderr = (serve.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        #expect(String(decoding: stderr, as: UTF8.self).contains("--memcached-nodes"))
    }

    /// Runs `msm serve` to its end, or while `body` runs and then SIGTERM, with stdout and
    /// stderr in one file, so a chatty debug log can never fill a pipe and block it.
    private func runToEnd(
        _ arguments: [String],
        environment: [String: String] = [:],
        launcher: [String] = [],
        while body: (() async throws -> Void)? = nil
    ) async throws -> (status: Int32, output: String) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("msm-serve-\(UUID().uuidString).log")
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw TestServerError("cannot create \(file.path)")
        }
        defer { try? FileManager.default.removeItem(at: file) }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        let process = Process()
        let command = launcher + [DemoClusterProcess.msmBinary] + arguments
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MSM_") }.merging(environment) { $1 }
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        if let body {
            do {
                try await body()
            } catch {
                process.terminate()
                process.waitUntilExit()
                throw error
            }
            process.terminate()
        }
        process.waitUntilExit()
        return (process.terminationStatus, try String(contentsOf: file, encoding: .utf8))
    }

    @Test(arguments: [
        "m1:127.0.0.1:11211,r1:redis://127.0.0.1:6379",
        "r1:redis://127.0.0.1:6379 m1:127.0.0.1:11211",
    ])
    func aMixedNodeListIsAClearError(nodes: String) async throws {
        for (arguments, environment) in [(["serve", "--memcached-nodes", nodes], [:]), (["serve"], ["MSM_MEMCACHED_NODES": nodes])] {
            let (status, output) = try await runToEnd(arguments, environment: environment)
            #expect(status != 0)
            #expect(output.contains("--memcached-nodes"), "\(output)")
            #expect(output.contains("mixed memcached and Redis nodes"), "\(output)")
        }
    }

    /// On the command line (the worst place: `ps` shows it), at debug level, with one node's
    /// password wrong so connect failures are logged: the passwords never appear, percent-encoded
    /// or decoded, neither in the startup line nor in any error.
    @Test func aRedisPasswordIsNeverShown() async throws {
        let secret = "p@ss,word"  // written p%40ss%2Cword in the URL
        let wrong = "Wr0ngPassw0rd-9f1"
        try await withRedisServer(password: secret) { redis in
            let port = try FreeLoopbackPort.allocate()
            let nodes = "r1:redis://:p%40ss%2Cword@\(redis.endpoint)/1,r2:redis://default:\(wrong)@\(redis.endpoint)/2"
            var page: HTTPReply?
            let (_, output) = try await runToEnd([
                "serve", "--port", "\(port)", "--route", "A", "--memcached-nodes", nodes, "--failover-nodes", "r1",
                "--log-level", "debug",
            ]) {
                page = try await firstPage(port: port)
            }
            let reply = try #require(page, "msm serve did not answer:\n\(output)")
            #expect(reply.status == 200, "\(reply)")
            #expect(reply.json["node"] as? String == "r1", "r2 refuses the wrong password, so sessions live on r1")
            #expect(output.contains("store=redis"), "\(output)")
            #expect(output.contains("r1:redis://:***@127.0.0.1"), "\(output)")
            #expect(output.contains("WRONGPASS") || output.contains("authenticat"), "the refused AUTH is logged: \(output)")
            for shown in [secret, "p%40ss%2Cword", "p%40ss", wrong] {
                #expect(!output.contains(shown), "\(shown) leaked:\n\(output)")
            }
        }

        // Error paths quote the offending entry: with the password redacted.
        for nodes in [
            "r1:redis://:\(wrong)@127.0.0.1:99999,r2:redis://127.0.0.1:1",
            "r1:redis://:\(wrong)@127.0.0.1:1/notadb",
            "m1:127.0.0.1:11211,r1:redis://:\(wrong)@127.0.0.1:1",
            "rediss://:\(wrong)@127.0.0.1:0",
            "r1:redis://:\(wrong)@127.0.0.1:1,r1:redis://:\(wrong)@127.0.0.1:2",
        ] {
            let (status, output) = try await runToEnd(["serve", "--memcached-nodes", nodes])
            #expect(status != 0)
            #expect(output.contains("--memcached-nodes"), "\(output)")
            #expect(!output.contains(wrong), "the password leaked:\n\(output)")
        }
    }

    /// `rediss://` nodes verified against a private CA given with `--redis-tls-ca-file`.
    @Test func redisOverTLSWithAPrivateAuthority() async throws {
        let certificates = try TestCertificates.make()
        let tlsPort = try FreeLoopbackPort.allocate()
        try await withRedisServer(extraArguments: certificates.redisArguments(tlsPort: tlsPort)) { redis in
            let port = try FreeLoopbackPort.allocate()
            var page: HTTPReply?
            let (_, output) = try await runToEnd([
                "serve", "--port", "\(port)", "--route", "A", "--memcached-nodes", "rediss://localhost:\(tlsPort)/3",
                "--redis-tls-ca-file", certificates.authorityCertificatePath,
            ]) {
                page = try await firstPage(port: port)
            }
            let reply = try #require(page, "msm serve did not answer:\n\(output)")
            #expect(reply.status == 200, "\(reply)")
            #expect(try await redis.info("keyspace")["db3"]?.hasPrefix("keys=1") == true, "the session went through the TLS port to db 3")
        }
        let (status, output) = try await runToEnd([
            "serve", "--memcached-nodes", "rediss://127.0.0.1:1", "--redis-tls-ca-file", "/nonexistent/ca.pem",
        ])
        #expect(status != 0)
        #expect(output.contains("--redis-tls-ca-file"), "\(output)")
    }

    @Test func anUnknownFrameworkNamesTheFlag() async throws {
        let serve = try run(["serve", "--memcached-nodes", "127.0.0.1:1", "--framework", "rails"], environment: [:])
        serve.waitUntilExit()
        #expect(serve.terminationStatus != 0)
        let stderr = (serve.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        #expect(String(decoding: stderr, as: UTF8.self).contains("--framework rails: expected hummingbird or vapor"))
    }

    @Test func aBadLockingModeNamesTheFlag() async throws {
        let serve = try run(["serve", "--memcached-nodes", "127.0.0.1:1", "--locking-mode", "sometimes"], environment: [:])
        serve.waitUntilExit()
        #expect(serve.terminationStatus != 0)
        let stderr = (serve.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        #expect(String(decoding: stderr, as: UTF8.self).contains("--locking-mode sometimes"))
    }

    /// `--event-loops` / `MSM_EVENT_LOOPS` sizes NIO's group; by default a server pinned to one
    /// CPU (taskset) runs one loop, where SwiftNIO alone would run one per core of the machine.
    @Test func eventLoopsFollowTheFlagOrTheCPUAffinity() async throws {
        try await withMemcachedServer { memcached in
            func startupLine(_ arguments: [String], environment: [String: String] = [:], launcher: [String] = []) async throws -> String {
                let port = try FreeLoopbackPort.allocate()
                var page: HTTPReply?
                let (_, output) = try await runToEnd(
                    ["serve", "--port", "\(port)", "--memcached-nodes", "n1:\(memcached.endpoint)", "--log-level", "notice"] + arguments,
                    environment: environment, launcher: launcher
                ) {
                    page = try await firstPage(port: port)
                }
                _ = try #require(page, "msm serve did not answer:\n\(output)")
                return try #require(output.split(separator: "\n").first { $0.contains("msm serve listening") }.map(String.init), "\(output)")
            }
            #expect(try await startupLine(["--event-loops", "3"]).contains("event-loops=3"))
            #expect(try await startupLine([], environment: ["MSM_EVENT_LOOPS": "2"]).contains("event-loops=2"))
            // taskset is util-linux, on every Debian: its absence is a broken machine, not a skip.
            #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/taskset"), "taskset (util-linux) is missing")
            let pinned = try await startupLine([], launcher: ["/usr/bin/taskset", "-c", "0"])
            #expect(pinned.contains("event-loops=1"), "\(pinned)")
        }
        let (status, output) = try await runToEnd(["serve", "--memcached-nodes", "127.0.0.1:1", "--event-loops", "0"])
        #expect(status != 0)
        #expect(output.contains("--event-loops 0: expected 1 to 256"), "\(output)")
    }

    /// Behind HTTPS the cookie is Secure; a `__Host-` cookie that browsers would drop is refused
    /// at start, naming the setting.
    @Test func hardenedCookieFlags() async throws {
        try await withMemcachedServer { memcached in
            let port = try FreeLoopbackPort.allocate()
            var page: HTTPReply?
            let (_, output) = try await runToEnd(
                [
                    "serve", "--port", "\(port)", "--memcached-nodes", "n1:\(memcached.endpoint)", "--cookie-name", "__Host-SID",
                    "--behind-https", "true", "--cookie-same-site", "strict",
                ]
            ) {
                page = try await firstPage(port: port)
            }
            let reply = try #require(page, "msm serve did not answer:\n\(output)")
            let cookie = try #require(reply.header("Set-Cookie").first { $0.hasPrefix("__Host-SID=") }, "\(reply)")
            #expect(cookie.hasSuffix("; Path=/; Secure; HttpOnly; SameSite=Strict"), "\(cookie)")
        }
        let (status, output) = try await runToEnd(["serve", "--memcached-nodes", "127.0.0.1:1", "--cookie-name", "__Host-SID"])
        #expect(status != 0)
        #expect(output.contains("cookie.name") && output.contains("__Host-"), "\(output)")
        let (badSameSite, sameSiteOutput) = try await runToEnd(["serve", "--memcached-nodes", "127.0.0.1:1", "--cookie-same-site", "loose"])
        #expect(badSameSite != 0)
        #expect(sameSiteOutput.contains("--cookie-same-site loose: expected strict, lax or none"), "\(sameSiteOutput)")
    }

    // MARK: Security (issue 14)

    /// A fresh base64 key from `msm new-encryption-key`.
    private func newKey() async throws -> String {
        let (status, output) = try await runToEnd(["new-encryption-key"])
        #expect(status == 0)
        let key = output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(key.count == 44 && Data(base64Encoded: key)?.count == 32, "\(output)")
        return key
    }

    /// memcached with `-Y` and `-Z`, sessions encrypted: the whole hardened setup through the
    /// real binary, non-sticky so every visit reads (and decrypts) the session from memcached.
    @Test func aLoggedInTLSMemcachedWithEncryptedSessions() async throws {
        let certificates = try TestCertificates.make()
        let authFile = certificates.directory + "/memcached-auth"
        try "alice:wonder-land\n".write(toFile: authFile, atomically: true, encoding: .utf8)
        let key = try await newKey()
        try await withMemcachedServer(extraArguments: ["-Y", authFile] + certificates.memcachedArguments()) { memcached in
            let port = try FreeLoopbackPort.allocate()
            var visits: [Int] = []
            let arguments = [
                "serve", "--port", "\(port)", "--route", "A", "--non-sticky", "--memcached-nodes", "m1:localhost:\(memcached.port)",
                "--memcached-username", "alice", "--memcached-tls-ca-file", certificates.authorityCertificatePath,
            ]
            let (_, output) = try await runToEnd(
                arguments, environment: ["MSM_MEMCACHED_PASSWORD": "wonder-land", "MSM_SESSION_ENCRYPTION_KEYS": key]
            ) {
                var reply = try #require(try await firstPage(port: port))
                var cookie = reply.setCookie("SESSIONID").map { "SESSIONID=\($0)" }
                visits.append(reply.json["visits"] as? Int ?? -1)
                for _ in 0..<2 {
                    reply = try HTTPTestClient.request(port: port, path: "/myapp/", cookie: cookie)
                    cookie = reply.setCookie("SESSIONID").map { "SESSIONID=\($0)" } ?? cookie
                    visits.append(reply.json["visits"] as? Int ?? -1)
                }
            }
            #expect(visits == [1, 2, 3], "\(output)")
            #expect(output.contains("encryption=key "), "the startup line names the key by id: \(output)")
            for secret in ["wonder-land", key] {
                #expect(!output.contains(secret), "a secret leaked:\n\(output)")
            }
        }
    }

    /// A wrong memcached password is logged as a refused login naming the node, never the password.
    @Test func aWrongMemcachedPasswordIsNamedButNotShown() async throws {
        let certificates = try TestCertificates.make()  // for its temporary directory, removed with it
        defer { withExtendedLifetime(certificates) {} }
        let directory = certificates.directory
        try "alice:wonder-land\n".write(toFile: directory + "/auth", atomically: true, encoding: .utf8)
        try "through-the-looking-glass\n".write(toFile: directory + "/password", atomically: true, encoding: .utf8)
        try await withMemcachedServer(extraArguments: ["-Y", directory + "/auth"]) { memcached in
            let port = try FreeLoopbackPort.allocate()
            let (_, output) = try await runToEnd([
                "serve", "--port", "\(port)", "--memcached-nodes", memcached.endpoint, "--memcached-username", "alice",
                "--memcached-password-file", directory + "/password",
            ]) {
                _ = try await firstPage(port: port)
            }
            #expect(output.contains("memcached refused the username or password"), "\(output)")
            #expect(!output.contains("on a store reached over the network"), "loopback nodes: no unencrypted-store warning: \(output)")
            #expect(!output.contains("password crosses the network"), "loopback nodes: no plain-password warning: \(output)")
            let refusal = output.split(separator: "\n").first { $0.contains("memcached refused the username or password") }
            #expect(refusal?.contains(memcached.endpoint) == true, "the refusal names the node: \(output)")
            #expect(!output.contains("looking-glass"), "the password leaked:\n\(output)")
        }

        for (arguments, environment, complaint) in [
            (["--memcached-username", "alice"], [:], "needs a password"),
            ([], ["MSM_MEMCACHED_PASSWORD": "orphan-secret"], "--memcached-username (MSM_MEMCACHED_USERNAME) is not"),
            (["--memcached-tls-ca-file", "/nonexistent/ca.pem"], [:], "--memcached-tls-ca-file /nonexistent/ca.pem is not a readable file"),
            (["--memcached-tls-certificate-file", directory + "/password"], [:], "go together"),
            (["--memcached-tls-key-file", directory + "/password"], [:], "go together"),
            (["--memcached-tls", "false", "--memcached-tls-ca-file", directory + "/password"], [:], "need TLS"),
            (
                ["--memcached-username", "alice", "--memcached-password-file", directory + "/password"], ["MSM_MEMCACHED_PASSWORD": "orphan-secret"],
                "once"
            ),
            (
                ["--session-encryption-keys-file", directory + "/password"], ["MSM_SESSION_ENCRYPTION_KEYS": "c2hvcnQ="],
                "as a list or as a file, not both"
            ),
            (["--session-encryption-keys", "c2hvcnQ="], [:], "entry 1 of the key list"),
            (
                ["--session-encryption-keys-file", "/nonexistent/keys"], [:],
                "--session-encryption-keys-file /nonexistent/keys is not a readable file"
            ),
        ] as [([String], [String: String], String)] {
            let (status, output) = try await runToEnd(["serve", "--memcached-nodes", "127.0.0.1:1"] + arguments, environment: environment)
            #expect(status != 0, "\(arguments)")
            #expect(output.contains(complaint), "\(arguments): \(output)")
            #expect(!output.contains("orphan-secret") && !output.contains("c2hvcnQ="), "\(output)")
        }
        let (status, output) = try await runToEnd(["serve", "--memcached-nodes", "redis://127.0.0.1:1", "--memcached-username", "alice"])
        #expect(status != 0)
        #expect(output.contains("apply to memcached nodes"), "\(output)")
    }

    /// A key roll-out across two real app servers: A seals with the new key, B still with the old
    /// one, both list both; a browser alternating between them is never logged out.
    @Test func keyRotationAcrossTwoServers() async throws {
        let (old, new) = (try await newKey(), try await newKey())
        try await withMemcachedServer { memcached in
            let (portA, portB) = (try FreeLoopbackPort.allocate(), try FreeLoopbackPort.allocate())
            func serve(_ route: String, _ port: Int, keys: String) -> ([String], [String: String]) {
                (
                    ["serve", "--port", "\(port)", "--route", route, "--non-sticky", "--memcached-nodes", "m1:\(memcached.endpoint)"],
                    ["MSM_SESSION_ENCRYPTION_KEYS": keys]
                )
            }
            var visits: [Int] = []
            var cookie: String?
            var outputB = ""
            let a = serve("A", portA, keys: "\(new),\(old)")
            // B reads its keys from a file, one per line (as a secret store mounts them).
            let keysFile = FileManager.default.temporaryDirectory.appendingPathComponent("msm-keys-\(UUID().uuidString)").path
            try "\(old)\r\n\n\(new)\n".write(toFile: keysFile, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: keysFile) }
            let b = (serve("B", portB, keys: "").0 + ["--session-encryption-keys-file", keysFile], [String: String]())
            let (_, outputA) = try await runToEnd(a.0, environment: a.1) {
                (_, outputB) = try await runToEnd(b.0, environment: b.1) {
                    _ = try #require(try await firstPage(port: portA))
                    _ = try #require(try await firstPage(port: portB))
                    for visit in 0..<8 {
                        let reply = try HTTPTestClient.request(port: visit.isMultiple(of: 2) ? portA : portB, path: "/myapp/", cookie: cookie)
                        cookie = reply.setCookie("SESSIONID").map { "SESSIONID=\($0)" } ?? cookie
                        visits.append(reply.json["visits"] as? Int ?? -1)
                    }
                }
            }
            #expect(visits == Array(1...8), "nobody logged out during the roll-out")
            // Each server loaded both keys, in its own order: "encryption=key 1A2B3C4D, key 5E6F7A8B".
            func keyIDs(_ output: String) -> [String] {
                guard let range = output.range(of: "encryption=") else { return [] }
                return output[range.upperBound...].split(separator: ",").prefix(2).map {
                    String($0.trimmingCharacters(in: .whitespaces).dropFirst("key ".count).prefix(8))
                }
            }
            let (idsA, idsB) = (keyIDs(outputA), keyIDs(outputB))
            #expect(idsA.count == 2 && idsA == idsB.reversed() && idsA[0] != idsA[1], "A: \(idsA), B: \(idsB)\n\(outputA)\n\(outputB)")
        }
    }
}
