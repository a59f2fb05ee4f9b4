import Glibc

/// A real memcached process owned by a test or benchmark: started on a free loopback port,
/// killable, stoppable (SIGSTOP) and restartable on the same port.
///
/// A thin wrapper over the shared process machinery (``ServerProcess``): this type only knows
/// memcached's command line and how to ask it for its pid (`stats`). memcached's output goes to a
/// small log file (see ``log()``), so a failed start can say why; the file is removed when the
/// object goes away, and the process is killed then at the latest.
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

    private let process: ServerProcess

    /// The address memcached listens on, always `127.0.0.1`.
    public var host: String { process.host }
    /// The TCP port memcached listens on; it stays the same across ``restart()``.
    public var port: Int { process.port }
    /// The full command line (without the executable) this server runs with.
    public var arguments: [String] { process.arguments }
    /// The memcached executable in use.
    public var executablePath: String { process.executablePath }

    /// Current process id (the most recent one, if the server has been killed).
    public var pid: Int32 { process.pid }

    /// Whether the current memcached process is alive (it may still be SIGSTOPped).
    public var isRunning: Bool { process.isRunning }

    /// `"127.0.0.1:PORT"`.
    public var endpoint: String { process.endpoint }

    private init(process: ServerProcess) {
        self.process = process
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
        let process = try await ServerProcess.start(
            name: binaryName,
            executablePath: try findBinary(),
            port: port,
            startupTimeout: startupTimeout,
            restartRetryWindow: restartRetryWindow,
            arguments: { chosenPort in
                var arguments = [
                    "-l", "127.0.0.1", "-p", String(chosenPort), "-U", "0",
                    "-m", String(memoryMegabytes), "-t", String(threads), "-c", "4096",
                ]
                if let maxItemSize { arguments += ["-I", maxItemSize] }
                if geteuid() == 0 { arguments += ["-u", "root"] }  // memcached refuses to run as root otherwise
                return arguments + extraArguments
            },
            reportedPID: { host, port in
                // A server with -Z (TLS only) or -Y (login first) answers no plain `stats`.
                if let pid = try? await stats(host: host, port: port)["pid"].flatMap({ Int32($0) }) { return pid }
                return ListeningSocketOwner.pid(listeningOn: port)
            }
        )
        return MemcachedServerProcess(process: process)
    }

    /// SIGKILL, then wait until the process is reaped so the port is free. Idempotent.
    public func kill() async {
        await process.kill()
    }

    /// SIGSTOP: the process keeps its sockets but stops answering.
    public func suspend() { process.suspend() }

    /// SIGCONT after `suspend()`.
    public func resume() { process.resume() }

    /// Kills the process if it runs, starts it again on the same port and waits until it accepts.
    /// Retries for up to `restartRetryWindow` while the port is briefly still in use.
    public func restart() async throws {
        try await process.restart()
    }

    /// Sends `stats` (or `stats <group>`, e.g. `"settings"`, `"slabs"`) over a plain TCP
    /// connection and returns the `STAT name value` pairs up to `END`.
    public func stats(_ group: String? = nil) async throws -> [String: String] {
        try await Self.stats(group, host: host, port: port)
    }

    private static func stats(_ group: String? = nil, host: String, port: Int) async throws -> [String: String] {
        let command = group.map { "stats \($0)\r\n" } ?? "stats\r\n"
        return try await ServerProcess.runBlocking {
            // A server with -Y answers one CLIENT_ERROR line instead of the table.
            let bytes = try LoopbackSocket.exchange(Array(command.utf8), host: host, port: port) { reply in
                reply.count >= 2 && reply.suffix(2).elementsEqual("\r\n".utf8)
                    && (reply.suffix(5).elementsEqual("END\r\n".utf8) || reply.starts(with: "CLIENT_ERROR".utf8))
            }
            let reply = String(decoding: bytes, as: UTF8.self)
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

    /// What memcached wrote to stdout and stderr since it was last launched (usually nothing).
    public func log() -> String {
        process.log()
    }

    /// Finds memcached: `$MEMCACHED_BINARY`, then `PATH`, then `/usr/bin/memcached`.
    public static func findBinary() throws -> String {
        try ServerProcess.findBinary(
            named: binaryName,
            environmentVariable: binaryEnvironmentVariable,
            fallbackPaths: [fallbackBinaryPath],
            notFoundMessage: "memcached not found in PATH: run `make test` (it installs it) or `apt-get install memcached`"
        )
    }
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
