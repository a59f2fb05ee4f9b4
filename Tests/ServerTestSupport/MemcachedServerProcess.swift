import Foundation
import Glibc
import Synchronization

/// A real memcached process owned by a test or benchmark: started on a free loopback port,
/// killable, stoppable (SIGSTOP) and restartable on the same port.
///
/// The child is launched with `Foundation.Process`, which also reaps it: this type never calls
/// `waitpid` itself (that would race Foundation's own reaper). Exit is observed through the
/// process's termination handler, so `kill()` and `restart()` wait without blocking a thread.
///
/// memcached's stderr goes to a small log file in the temporary directory, so that a failed
/// start can say why (e.g. "failed to listen on TCP port ...: Address already in use"); stdout
/// and stdin are `/dev/null`. The log file is removed when the object goes away.
public final class MemcachedServerProcess: Sendable {
    /// The executable name looked up in `PATH`.
    public static let binaryName = "memcached"
    /// Where Debian/Ubuntu put it, tried when `PATH` has no `memcached`.
    public static let fallbackBinaryPath = "/usr/bin/memcached"
    /// An environment variable that, when set, names the memcached binary to use.
    public static let binaryEnvironmentVariable = "MEMCACHED_BINARY"
    /// How long `start`/`restart` wait for the server to accept connections.
    public static let startupTimeout: Duration = .seconds(5)
    /// How long `restart` keeps retrying while the old port is still briefly in use.
    public static let restartRetryWindow: Duration = .seconds(3)

    public let host: String
    public let port: Int
    /// The full command line (without the executable) this server runs with.
    public let arguments: [String]
    /// The memcached executable in use.
    public let executablePath: String

    private let logPath: String
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
    public var pid: Int32 { state.withLock { $0.lastPID } }

    /// Whether the current memcached process is alive (it may still be SIGSTOPped).
    public var isRunning: Bool {
        state.withLock { $0.current.map { !$0.exit.hasExited } ?? false }
    }

    /// `"127.0.0.1:PORT"`.
    public var endpoint: String { "\(host):\(port)" }

    private init(host: String, port: Int, arguments: [String], executablePath: String, logPath: String) {
        self.host = host
        self.port = port
        self.arguments = arguments
        self.executablePath = executablePath
        self.logPath = logPath
        self.state = Mutex(State())
        Self.liveServers.withLock { _ = $0 }  // make sure the at-exit cleanup is registered
    }

    /// Starts memcached on `port` (a free loopback port when `nil`) and returns once it accepts
    /// connections.
    public static func start(
        port: Int? = nil,
        memoryMegabytes: Int = 64,
        maxItemSize: String? = nil,
        threads: Int = 1,
        extraArguments: [String] = []
    ) async throws -> MemcachedServerProcess {
        let executable = try findBinary()
        // With a port chosen for us, another process could grab it between our probe and
        // memcached's bind: then memcached exits at once and we simply try another port.
        let attempts = port == nil ? 5 : 1
        var lastError: (any Error)?
        for _ in 0..<attempts {
            let chosenPort = try port ?? FreeLoopbackPort.allocate()
            var arguments = [
                "-l", "127.0.0.1", "-p", String(chosenPort), "-U", "0",
                "-m", String(memoryMegabytes), "-t", String(threads), "-c", "4096",
            ]
            if let maxItemSize { arguments += ["-I", maxItemSize] }
            if geteuid() == 0 { arguments += ["-u", "root"] }  // memcached refuses to run as root otherwise
            arguments += extraArguments
            let logPath = NSTemporaryDirectory() + "memcached-\(getpid())-\(chosenPort)-\(UInt32.random(in: 0...UInt32.max)).log"
            let server = MemcachedServerProcess(
                host: "127.0.0.1", port: chosenPort, arguments: arguments,
                executablePath: executable, logPath: logPath
            )
            do {
                try await server.launchAndWaitUntilAccepting(retryWhileExitingFor: .zero)
                return server
            } catch {
                lastError = error
                await server.kill()
            }
        }
        throw lastError ?? TestServerError("memcached could not be started")
    }

    /// SIGKILL, then wait until the process is reaped so the port is free. Idempotent.
    public func kill() async {
        let launched: Launched? = state.withLock { state in
            guard let current = state.current else { return nil }
            if !current.exit.hasExited { _ = Glibc.kill(current.pid, SIGKILL) }
            return current
        }
        guard let launched else { return }
        await launched.exit.wait()
        Self.liveServers.withLock { _ = $0.removeValue(forKey: launched.pid) }
        state.withLock { state in
            if state.current?.pid == launched.pid { state.current = nil }
        }
    }

    /// SIGSTOP: the process keeps its sockets but stops answering.
    public func suspend() { send(SIGSTOP) }

    /// SIGCONT after `suspend()`.
    public func resume() { send(SIGCONT) }

    /// Kills the process if it runs, starts it again on the same port and waits until it accepts.
    /// Retries for up to `restartRetryWindow` while the port is briefly still in use.
    public func restart() async throws {
        await kill()
        try await launchAndWaitUntilAccepting(retryWhileExitingFor: Self.restartRetryWindow)
    }

    /// Sends `stats` (or `stats <group>`, e.g. `"settings"`, `"slabs"`) over a plain TCP
    /// connection and returns the `STAT name value` pairs up to `END`.
    public func stats(_ group: String? = nil) async throws -> [String: String] {
        let host = self.host
        let port = self.port
        let command = group.map { "stats \($0)\r\n" } ?? "stats\r\n"
        return try await Self.runBlocking {
            let reply = try LoopbackSocket.request(command, host: host, port: port, terminator: "END\r\n")
            var result: [String: String] = [:]
            for line in reply.split(separator: "\r\n") {
                let fields = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
                if fields.count == 3, fields[0] == "STAT" {
                    result[String(fields[1])] = String(fields[2])
                }
            }
            return result
        }
    }

    /// What memcached wrote to stderr since it was last launched (usually nothing).
    public func log() -> String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    deinit {
        // Never leave a process behind. Foundation's reaper collects it; we cannot wait here.
        state.withLock { state in
            if let current = state.current, !current.exit.hasExited {
                _ = Glibc.kill(current.pid, SIGKILL)
                Self.liveServers.withLock { _ = $0.removeValue(forKey: current.pid) }
            }
        }
        unlink(logPath)
    }

    // MARK: - Launching

    private func send(_ signalNumber: Int32) {
        state.withLock { state in
            if let current = state.current, !current.exit.hasExited { _ = Glibc.kill(current.pid, signalNumber) }
        }
    }

    /// Launches the process and waits (polling a TCP connect every 20 ms, up to `startupTimeout`)
    /// until it accepts. If the process exits early - typically because the port is still in
    /// use - it is launched again until `retryWindow` has passed.
    private func launchAndWaitUntilAccepting(retryWhileExitingFor retryWindow: Duration) async throws {
        let clock = ContinuousClock()
        let retryDeadline = clock.now + retryWindow
        while true {
            let launched = try launch()
            let deadline = clock.now + Self.startupTimeout
            var exited = false
            while clock.now < deadline {
                if launched.exit.hasExited { exited = true; break }
                if LoopbackSocket.canConnect(host: host, port: port) {
                    // Something accepts on the port: make sure it is our process and not a
                    // stranger that took the port (memcached would then exit on bind).
                    if let reportedPID = try? await stats()["pid"], reportedPID == String(launched.pid) {
                        return
                    }
                    if launched.exit.hasExited { exited = true; break }
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
                what = "memcached (pid \(launched.pid)) exited with status \(status) before accepting connections on \(host):\(port)"
            } else {
                what = "memcached (pid \(launched.pid)) is running but did not accept connections on \(host):\(port) within \(Self.startupTimeout)"
            }
            await kill()
            throw TestServerError(
                what
                    + (output.isEmpty ? "" : "; its output: \(output.prefix(2000))")
                    + "; command: \(executablePath) \(arguments.joined(separator: " "))"
            )
        }
    }

    private func launch() throws -> Launched {
        try state.withLock { state in
            if let current = state.current, !current.exit.hasExited {
                throw TestServerError("memcached on \(endpoint) is already running (pid \(current.pid))")
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executablePath)
            process.arguments = arguments
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            let log = FileHandle(forWritingAtPath: logPath)
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
            Self.liveServers.withLock { $0[launched.pid] = true }
            return launched
        }
    }

    /// Finds memcached: `$MEMCACHED_BINARY`, then `PATH`, then `/usr/bin/memcached`.
    public static func findBinary() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment[binaryEnvironmentVariable], !explicit.isEmpty {
            guard access(explicit, X_OK) == 0 else {
                throw TestServerError("\(binaryEnvironmentVariable)=\(explicit) is not an executable file")
            }
            return explicit
        }
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + binaryName
            if access(candidate, X_OK) == 0 { return candidate }
        }
        if access(fallbackBinaryPath, X_OK) == 0 { return fallbackBinaryPath }
        throw TestServerError(
            "memcached not found in PATH: run `make test` (it installs it) or `apt-get install memcached`"
        )
    }

    /// Runs blocking socket work off the cooperative pool.
    private static func runBlocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    // MARK: - Last-resort cleanup

    /// Pids of servers still running, killed at normal process exit even if a test leaked the
    /// object (e.g. a retain cycle) so no memcached outlives the test run.
    private static let liveServers: Mutex<[Int32: Bool]> = {
        atexit {
            MemcachedServerProcess.liveServers.withLock { servers in
                for pid in servers.keys { _ = Glibc.kill(pid, SIGKILL) }
                servers.removeAll()
            }
        }
        return Mutex([:])
    }()
}

/// Starts a memcached server, runs `body` with it and always kills it afterwards, also when
/// `body` throws.
public func withMemcachedServer<T>(
    port: Int? = nil,
    memoryMegabytes: Int = 64,
    maxItemSize: String? = nil,
    threads: Int = 1,
    extraArguments: [String] = [],
    isolation: isolated (any Actor)? = #isolation,
    _ body: (MemcachedServerProcess) async throws -> T
) async throws -> T {
    let server = try await MemcachedServerProcess.start(
        port: port, memoryMegabytes: memoryMegabytes, maxItemSize: maxItemSize,
        threads: threads, extraArguments: extraArguments
    )
    do {
        let result = try await body(server)
        await server.kill()
        return result
    } catch {
        await server.kill()
        throw error
    }
}

/// Free TCP ports on 127.0.0.1.
public enum FreeLoopbackPort {
    /// Binds a TCP socket to 127.0.0.1:0, reads the port the kernel chose and closes the socket.
    public static func allocate() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestServerError.posix("socket") }
        defer { close(descriptor) }
        var address = LoopbackSocket.address(host: "127.0.0.1", port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw TestServerError.posix("bind 127.0.0.1:0") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw TestServerError.posix("getsockname") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A failure starting, finding or talking to a test server.
public struct TestServerError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    static func posix(_ what: String) -> TestServerError {
        let code = errno
        return TestServerError("\(what) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}

// MARK: - Internals

/// The exit of one child process, awaited without blocking a thread.
private final class ExitSignal: Sendable {
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

/// Plain blocking TCP to loopback, for readiness probes and `stats`.
enum LoopbackSocket {
    static func address(host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        _ = inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }

    /// A connected socket with 5 s send/receive timeouts, or nil if the connect failed.
    static func connect(host: String, port: Int) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = address(host: host, port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    static func canConnect(host: String, port: Int) -> Bool {
        guard let descriptor = connect(host: host, port: port) else { return false }
        close(descriptor)
        return true
    }

    /// Sends `request` and reads until the reply ends with `terminator`.
    static func request(_ request: String, host: String, port: Int, terminator: String) throws -> String {
        guard let descriptor = connect(host: host, port: port) else {
            throw TestServerError.posix("connect to \(host):\(port)")
        }
        defer { close(descriptor) }
        var bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeMutableBytes {
                send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw TestServerError.posix("send to \(host):\(port)")
            }
            sent += count
        }
        var reply: [UInt8] = []
        let end = Array(terminator.utf8)
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !(reply.count >= end.count && Array(reply.suffix(end.count)) == end) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw TestServerError("no reply from \(host):\(port) within 5 s (is the server suspended?)")
                }
                throw TestServerError.posix("receive from \(host):\(port)")
            }
            if count == 0 {
                throw TestServerError("\(host):\(port) closed the connection before \(terminator.debugDescription)")
            }
            reply += buffer[0..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
