import Foundation
import ServerTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The session store `msm demo --store` runs, with what the tests need to know about it.
enum DemoStore: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case memcached, redis

    /// Node ids, failover node first, as they appear in session ids and demo commands.
    var nodeIDs: [String] { self == .redis ? ["r1", "r2"] : ["m1", "m2"] }

    var testDescription: String { rawValue }
}

/// `msm demo` run as a real process on free ports: nginx, two `msm serve`, two memcached or
/// two redis-server. Commands (`stop m2`...) go to its standard input, as a person would type them.
final class DemoClusterProcess: Sendable {
    let nginxPort: Int
    let appPorts: [Int]
    let store: DemoStore
    let storePorts: [Int]
    private let process: Process
    private let input: FileHandle
    private let output = OutputBuffer()

    static var msmBinary: String {
        URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("msm").path
    }

    init(store: DemoStore = .memcached, arguments: [String] = [], environment: [String: String] = [:]) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.msmBinary) else {
            throw TestServerError("\(Self.msmBinary) is missing: build it first (`make test` does: swift build --build-tests builds every product)")
        }
        let ports = try (0..<5).map { _ in try FreeLoopbackPort.allocate() }
        nginxPort = ports[0]
        appPorts = [ports[1], ports[2]]
        self.store = store
        storePorts = [ports[3], ports[4]]
        process = Process()
        process.executableURL = URL(fileURLWithPath: Self.msmBinary)
        process.arguments =
            [
                "demo", "--port", "\(nginxPort)", "--app-ports", "\(appPorts[0]),\(appPorts[1])",
                "--store", store.rawValue, "--\(store.rawValue)-ports", "\(storePorts[0]),\(storePorts[1])",
            ] + arguments
        if !environment.isEmpty {
            // The app servers the demo starts inherit it (their MSM_* settings).
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        input = stdin.fileHandleForWriting
        let output = self.output
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            output.append(String(decoding: data, as: UTF8.self))
        }
        try process.run()
    }

    /// Starts the demo and waits until it is ready; free ports are picked just before it binds
    /// them, so a port taken in between (parallel suites start servers too) means a new attempt.
    static func startReady(
        store: DemoStore = .memcached, arguments: [String] = [], environment: [String: String] = [:]
    ) async throws -> DemoClusterProcess {
        var attempt = 0
        while true {
            attempt += 1
            let demo = try DemoClusterProcess(store: store, arguments: arguments, environment: environment)
            do {
                try await demo.waitFor("ready at")
                return demo
            } catch {
                await demo.stop()
                guard attempt < 3, demo.log.contains("already in use") else { throw error }
            }
        }
    }

    /// Runs `body` against a ready demo and stops the demo afterwards, whether `body` threw or
    /// not; returns the stopped demo for checks on its output.
    @discardableResult
    static func with(
        store: DemoStore = .memcached, arguments: [String] = [], environment: [String: String] = [:],
        _ body: (DemoClusterProcess) async throws -> Void
    ) async throws -> DemoClusterProcess {
        let demo = try await startReady(store: store, arguments: arguments, environment: environment)
        do {
            try await body(demo)
        } catch {
            await demo.stop()
            throw error
        }
        await demo.stop()
        return demo
    }

    var log: String { output.text }

    /// The last lines of the app servers' logs (the demo removes them when it stops): what a
    /// failing step shows, so a failure on a loaded CI machine can be diagnosed after the fact.
    func appLogTails(lines: Int = 25) -> String {
        guard let line = log.split(separator: "\n").first(where: { $0.trimmingCharacters(in: .whitespaces).hasPrefix("logs ") }) else {
            return "(the demo printed no log directory)"
        }
        let directory = URL(fileURLWithPath: line.trimmingCharacters(in: .whitespaces).dropFirst("logs".count).trimmingCharacters(in: .whitespaces))
        return ["A", "B"].map { route in
            let text = (try? String(contentsOf: directory.appendingPathComponent("app-\(route).log"), encoding: .utf8)) ?? "(unreadable)"
            return "app-\(route).log:\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Per node, the counters of the store commands the session manager sends: memcached's
    /// `stats` (gets, sets, touches, deletes) or Redis's per-command call counts.
    func storeCommandCounts() throws -> [[String: Int]] {
        switch store {
        case .memcached:
            let counters = ["cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "get_hits", "get_misses"]
            return try storePorts.map { port in try HTTPTestClient.memcachedStats(port: port).filter { counters.contains($0.key) } }
        case .redis:
            return try storePorts.map { try HTTPTestClient.redisCommandCalls(port: $0) }
        }
    }

    /// Waits until the demo printed `text` (after `since` characters of output).
    func waitFor(_ text: String, since offset: Int = 0, timeout: Duration = .seconds(60)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while !log.dropFirst(offset).contains(text) {
            guard process.isRunning else { throw TestServerError("msm demo exited:\n\(log)") }
            guard clock.now < deadline else { throw TestServerError("msm demo did not print \"\(text)\":\n\(log)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Types a command and waits for its confirmation line.
    func command(_ line: String, expect confirmation: String) async throws {
        let offset = log.count
        input.write(Data("\(line)\n".utf8))
        try await waitFor(confirmation, since: offset, timeout: .seconds(20))
    }

    /// SIGTERM, as Ctrl-C would; waits for everything it started to stop.
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(15)
        while process.isRunning && clock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}

/// What the demo printed so far; written by the pipe's reader, read by the test.
final class OutputBuffer: Sendable {
    private let storage = Mutex("")
    var text: String { storage.withLock { $0 } }
    func append(_ chunk: String) { storage.withLock { $0 += chunk } }
}
