import Foundation
import Glibc
import Synchronization

/// A real server process (memcached, redis-server...) owned by a test or benchmark: launched on a
/// loopback port, killable, stoppable (SIGSTOP) and restartable on the same port.
///
/// ``MemcachedServerProcess`` and ``RedisServerProcess`` are thin wrappers that only add their
/// command line and a way to ask the server for its pid; everything about processes lives here.
///
/// The child is launched with `Foundation.Process`, which also reaps it: this type never calls
/// `waitpid` itself (that would race Foundation's own reaper). Exit is observed through the
/// process's termination handler, so `kill()` and `restart()` wait without blocking a thread.
///
/// The server's stdout and stderr go to a small log file in the temporary directory, so that a
/// failed start can say why (e.g. "Address already in use"); stdin is `/dev/null`. The log file is
/// removed when the object goes away.
final class ServerProcess: Sendable {
    /// Asks whatever listens on host:port for its pid; `nil` (or a throw) means "not ready, or not ours".
    typealias PIDProbe = @Sendable (_ host: String, _ port: Int) async throws -> Int32?

    /// What the server is called in messages, e.g. `memcached`.
    let name: String
    let host: String
    let port: Int
    /// The full command line (without the executable).
    let arguments: [String]
    let executablePath: String
    /// How long a launch waits for the server to accept connections and report its pid.
    let startupTimeout: Duration
    /// How long `restart` keeps relaunching while the old port is still briefly in use.
    let restartRetryWindow: Duration

    private let logPath: String
    private let reportedPID: PIDProbe
    private let state: Mutex<State>

    private struct State {
        var current: Launched?
        var lastPID: Int32 = 0
    }

    /// One launched child: its process object and the signal of its exit.
    private struct Launched: @unchecked Sendable {
        // `Process` is only touched while holding `state`'s lock or after launch (pid reads);
        // Foundation itself guards its termination bookkeeping.
        let process: Process
        let exit: ExitSignal
        var pid: Int32 { process.processIdentifier }
    }

    /// Current process id (the most recent one, if the server has been killed).
    var pid: Int32 { state.withLock { $0.lastPID } }

    /// Whether the current process is alive (it may still be SIGSTOPped).
    var isRunning: Bool {
        state.withLock { $0.current.map { !$0.exit.hasExited } ?? false }
    }

    /// `"127.0.0.1:PORT"`.
    var endpoint: String { "\(host):\(port)" }

    private init(
        name: String,
        host: String,
        port: Int,
        arguments: [String],
        executablePath: String,
        startupTimeout: Duration,
        restartRetryWindow: Duration,
        reportedPID: @escaping PIDProbe
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.arguments = arguments
        self.executablePath = executablePath
        self.startupTimeout = startupTimeout
        self.restartRetryWindow = restartRetryWindow
        self.reportedPID = reportedPID
        self.logPath =
            NSTemporaryDirectory()
            + "\(name)-\(getpid())-\(port)-\(UInt32.random(in: 0...UInt32.max)).log"
        self.state = Mutex(State())
        Self.liveServers.withLock { _ = $0.logPaths.insert(logPath) }  // also registers the at-exit cleanup
    }

    /// Launches `executablePath` with `arguments(port)` on `port` (a free loopback port when `nil`)
    /// and returns once it accepts connections and `reportedPID` names the launched process.
    ///
    /// With a port chosen here, another process could grab it between the probe and the server's
    /// bind: the server then exits at once (or a stranger answers) and another port is tried.
    static func start(
        name: String,
        executablePath: String,
        port: Int?,
        startupTimeout: Duration,
        restartRetryWindow: Duration,
        arguments: (_ port: Int) -> [String],
        reportedPID: @escaping PIDProbe
    ) async throws -> ServerProcess {
        let attempts = port == nil ? 5 : 1
        var lastError: (any Error)?
        for _ in 0..<attempts {
            let chosenPort = try port ?? FreeLoopbackPort.allocate()
            let server = ServerProcess(
                name: name, host: "127.0.0.1", port: chosenPort, arguments: arguments(chosenPort),
                executablePath: executablePath, startupTimeout: startupTimeout,
                restartRetryWindow: restartRetryWindow, reportedPID: reportedPID
            )
            do {
                try await server.launchAndWaitUntilReady(retryWhileExitingFor: .zero)
                return server
            } catch {
                lastError = error
                await server.kill()
            }
        }
        throw lastError ?? TestServerError("\(name) could not be started")
    }

    /// SIGKILL, then wait until the process is reaped so the port is free. Idempotent.
    func kill() async {
        let launched: Launched? = state.withLock { state in
            guard let current = state.current else { return nil }
            if !current.exit.hasExited { _ = Glibc.kill(current.pid, SIGKILL) }
            return current
        }
        guard let launched else { return }
        await launched.exit.wait()
        Self.liveServers.withLock { _ = $0.pids.remove(launched.pid) }
        state.withLock { state in
            if state.current?.pid == launched.pid { state.current = nil }
        }
    }

    /// SIGSTOP: the process keeps its sockets but stops answering.
    /// Returns once every thread of the process has stopped (SIGSTOP is delivered asynchronously:
    /// a worker thread still running could answer requests sent right after the call).
    func suspend() {
        send(SIGSTOP)
        let pid = self.pid
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(2)
        while clock.now < deadline, !Self.allThreadsStopped(pid) {
            usleep(1_000)
        }
    }

    /// Whether every thread of `pid` is in state `T` (stopped), read from `/proc`.
    private static func allThreadsStopped(_ pid: Int32) -> Bool {
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"), !threads.isEmpty else {
            return true  // gone, or no /proc: nothing more to wait for
        }
        return threads.allSatisfy { thread in
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8),
                let afterName = stat.lastIndex(of: ")")
            else { return true }
            return stat[afterName...].dropFirst(2).first == "T"
        }
    }

    /// SIGCONT after `suspend()`.
    func resume() { send(SIGCONT) }

    /// Kills the process if it runs, starts it again on the same port and waits until it is ready.
    /// Retries for up to `restartRetryWindow` while the port is briefly still in use.
    func restart() async throws {
        await kill()
        try await launchAndWaitUntilReady(retryWhileExitingFor: restartRetryWindow)
    }

    /// What the server wrote to stdout and stderr since it was last launched.
    func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    deinit {
        // Never leave a process behind. Foundation's reaper collects it; we cannot wait here.
        state.withLock { state in
            if let current = state.current, !current.exit.hasExited {
                _ = Glibc.kill(current.pid, SIGKILL)
                Self.liveServers.withLock { _ = $0.pids.remove(current.pid) }
            }
        }
        Self.liveServers.withLock { _ = $0.logPaths.remove(logPath) }
        unlink(logPath)
    }

    // MARK: - Launching

    private func send(_ signalNumber: Int32) {
        state.withLock { state in
            if let current = state.current, !current.exit.hasExited { _ = Glibc.kill(current.pid, signalNumber) }
        }
    }

    /// Launches the process and waits (polling a TCP connect every 20 ms, up to `startupTimeout`)
    /// until it accepts and reports the launched pid. If the process exits early - typically
    /// because the port is still in use - it is launched again until `retryWindow` has passed.
    private func launchAndWaitUntilReady(retryWhileExitingFor retryWindow: Duration) async throws {
        let clock = ContinuousClock()
        let retryDeadline = clock.now + retryWindow
        while true {
            let launched = try launch()
            let deadline = clock.now + startupTimeout
            var exited = false
            while clock.now < deadline {
                if launched.exit.hasExited {
                    exited = true
                    break
                }
                if LoopbackSocket.canConnect(host: host, port: port) {
                    // Something accepts on the port: make sure it is our process and not a
                    // stranger that took the port (our server would then exit on bind).
                    if let reported = try? await reportedPID(host, port), reported == launched.pid {
                        return
                    }
                    if launched.exit.hasExited {
                        exited = true
                        break
                    }
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            if !exited { exited = launched.exit.hasExited }
            if exited, clock.now < retryDeadline {
                await kill()  // clears `current`
                try await Task.sleep(for: .milliseconds(50))
                continue
            }
            let output = log().trimmingCharacters(in: .whitespacesAndNewlines)
            let what: String
            if let status = launched.exit.status {
                what = "\(name) (pid \(launched.pid)) exited with status \(status) before accepting connections on \(endpoint)"
            } else {
                what = "\(name) (pid \(launched.pid)) is running but did not accept connections on \(endpoint) within \(startupTimeout)"
            }
            await kill()
            throw TestServerError(
                what
                    + (output.isEmpty ? "" : "; its output: \(output.prefix(2000))")
                    + "; command: \(([executablePath] + arguments).map(Self.shellQuoted).joined(separator: " "))"
            )
        }
    }

    private func launch() throws -> Launched {
        try state.withLock { state in
            if let current = state.current, !current.exit.hasExited {
                throw TestServerError("\(name) on \(endpoint) is already running (pid \(current.pid))")
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executablePath)
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = FileHandle(forWritingAtPath: logPath)
            process.standardOutput = log ?? FileHandle.nullDevice
            process.standardError = log ?? FileHandle.nullDevice
            let exit = ExitSignal()
            process.terminationHandler = { process in exit.finish(status: process.terminationStatus) }
            do {
                try process.run()
            } catch {
                try? log?.close()
                throw TestServerError("could not launch \(executablePath): \(error)")
            }
            try? log?.close()  // the child has its own copy
            let launched = Launched(process: process, exit: exit)
            state.current = launched
            state.lastPID = launched.pid
            Self.liveServers.withLock { _ = $0.pids.insert(launched.pid) }
            return launched
        }
    }

    /// `argument` as a shell would need it, so empty arguments (`--save ""`) stay visible in messages.
    private static func shellQuoted(_ argument: String) -> String {
        let plain =
            !argument.isEmpty
            && argument.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII
                    && (scalar.properties.isAlphabetic || scalar.properties.numericType != nil
                        || "-_./:=@%+,".unicodeScalars.contains(scalar))
            }
        return plain ? argument : "'" + argument.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// Finds an executable: `$environmentVariable`, then `PATH`, then each of `fallbackPaths`.
    ///
    /// - Throws: ``TestServerError`` with `notFoundMessage` when there is none.
    static func findBinary(
        named binaryName: String,
        environmentVariable: String,
        fallbackPaths: [String],
        notFoundMessage: String
    ) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment[environmentVariable], !explicit.isEmpty {
            guard access(explicit, X_OK) == 0 else {
                throw TestServerError("\(environmentVariable)=\(explicit) is not an executable file")
            }
            return explicit
        }
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + binaryName
            if access(candidate, X_OK) == 0 { return candidate }
        }
        if let fallback = fallbackPaths.first(where: { access($0, X_OK) == 0 }) { return fallback }
        throw TestServerError(notFoundMessage)
    }

    /// Runs blocking socket work off the cooperative pool.
    static func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    // MARK: - Last-resort cleanup

    /// What outlives a leaked object (e.g. a retain cycle) unless cleaned up at exit.
    private struct Leftovers {
        /// Servers still running.
        var pids: Set<Int32> = []
        /// Log files of objects not yet deinitialized.
        var logPaths: Set<String> = []
    }

    /// Killed and removed at normal process exit, so no server or log file outlives the test run.
    private static let liveServers: Mutex<Leftovers> = {
        atexit {
            ServerProcess.liveServers.withLock { leftovers in
                for pid in leftovers.pids { _ = Glibc.kill(pid, SIGKILL) }
                for path in leftovers.logPaths { unlink(path) }
                leftovers = Leftovers()
            }
        }
        return Mutex(Leftovers())
    }()
}

/// The exit of one child process, awaited without blocking a thread.
final class ExitSignal: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state = Mutex(State())

    var hasExited: Bool { state.withLock { $0.status != nil } }
    var status: Int32? { state.withLock { $0.status } }

    func finish(status: Int32) {
        let waiters = state.withLock { state in
            state.status = status
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state in
                if state.status != nil { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
