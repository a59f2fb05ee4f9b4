import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `msm serve` takes every flag from the environment too, and says clearly what is missing.
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

    @Test func everySettingCanComeFromTheEnvironment() async throws {
        try await withMemcachedServer { memcached in
            let port = try FreeLoopbackPort.allocate()
            let serve = try run(["serve"], environment: [
                "MSM_PORT": "\(port)", "MSM_ROUTE": "Z", "MSM_MEMCACHED_NODES": "n1:\(memcached.endpoint)",
                "MSM_STICKY": "false", "MSM_LOCKING_MODE": "all", "MSM_COOKIE_NAME": "ENVSESSION", "MSM_LOG_LEVEL": "warning",
            ])
            defer { serve.terminate(); serve.waitUntilExit() }
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(15)
            var reply: HTTPReply?
            while reply == nil, clock.now < deadline {
                reply = try? HTTPTestClient.request(port: port, path: "/myapp/")
                if reply == nil { try await Task.sleep(for: .milliseconds(100)) }
            }
            let page = try #require(reply, "msm serve did not answer on MSM_PORT \(port)")
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

    @Test func aBadLockingModeNamesTheFlag() async throws {
        let serve = try run(["serve", "--memcached-nodes", "127.0.0.1:1", "--locking-mode", "sometimes"], environment: [:])
        serve.waitUntilExit()
        #expect(serve.terminationStatus != 0)
        let stderr = (serve.standardError as? Pipe)?.fileHandleForReading.readDataToEndOfFile() ?? Data()
        #expect(String(decoding: stderr, as: UTF8.self).contains("--locking-mode sometimes"))
    }
}
