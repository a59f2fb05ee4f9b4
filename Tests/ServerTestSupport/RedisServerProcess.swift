import Foundation

/// A real redis-server process owned by a test: started on a free loopback port, killable,
/// stoppable (SIGSTOP) and restartable on the same port, optionally with a password and ACL users.
///
/// A thin wrapper over the shared process machinery (``ServerProcess``): this type only knows
/// redis-server's command line and how to ask it for its pid (`INFO server`). The server never
/// persists anything (`--save ""`, `--appendonly no`), so a restarted server is empty, like a
/// restarted memcached. Its log goes to a small file (see ``log()``), removed with the object.
public final class RedisServerProcess: Sendable {
    /// The executable name looked up in `PATH`.
    public static let binaryName = "redis-server"
    /// Where Debian/Ubuntu put it (older packages: `/usr/sbin`), tried when `PATH` has none.
    public static let fallbackBinaryPaths = ["/usr/bin/redis-server", "/usr/sbin/redis-server"]
    /// An environment variable that, when set, names the redis-server binary to use.
    public static let binaryEnvironmentVariable = "REDIS_SERVER_BINARY"
    /// How long `start`/`restart` wait for the server to accept connections.
    public static let startupTimeout: Duration = .seconds(5)
    /// How long `restart` keeps retrying while the old port is still briefly in use.
    public static let restartRetryWindow: Duration = .seconds(3)
    /// How long the readiness probe waits for `INFO`: short, since a stranger on the port may never answer.
    static let probeTimeout: Duration = .seconds(1)

    private let process: ServerProcess

    /// The default user's password (`requirepass`), or `nil` when the default user needs none.
    public let password: String?
    /// ACL users with full access, created at startup in addition to the default user.
    public let users: [(name: String, password: String)]

    /// The address redis-server listens on, always `127.0.0.1`.
    public var host: String { process.host }
    /// The TCP port redis-server listens on; it stays the same across ``restart()``.
    public var port: Int { process.port }
    /// The full command line (without the executable) this server runs with.
    public var arguments: [String] { process.arguments }
    /// The redis-server executable in use.
    public var executablePath: String { process.executablePath }

    /// Current process id (the most recent one, if the server has been killed).
    public var pid: Int32 { process.pid }

    /// Whether the current redis-server process is alive (it may still be SIGSTOPped).
    public var isRunning: Bool { process.isRunning }

    /// `"127.0.0.1:PORT"`.
    public var endpoint: String { process.endpoint }

    private init(process: ServerProcess, password: String?, users: [(name: String, password: String)]) {
        self.process = process
        self.password = password
        self.users = users
    }

    /// Starts redis-server on `port` (a free loopback port when `nil`) and returns once it accepts
    /// connections and reports the launched pid.
    ///
    /// - Parameters:
    ///   - password: the default user's password (`requirepass`); `nil` for none.
    ///   - users: ACL users created with full access (`user NAME on >PASSWORD ~* &* +@all`).
    ///   - extraArguments: more `--option value` pairs, appended last so they win.
    public static func start(
        port: Int? = nil,
        password: String? = nil,
        users: [(name: String, password: String)] = [],
        extraArguments: [String] = []
    ) async throws -> RedisServerProcess {
        let credentials = Credentials(password: password, users: users)
        let process = try await ServerProcess.start(
            name: binaryName,
            executablePath: try findBinary(),
            port: port,
            startupTimeout: startupTimeout,
            restartRetryWindow: restartRetryWindow,
            arguments: { chosenPort in
                var arguments = [
                    "--port", String(chosenPort), "--bind", "127.0.0.1", "--protected-mode", "no",
                    "--daemonize", "no", "--save", "", "--appendonly", "no", "--databases", "16",
                    "--loglevel", "warning", "--logfile", "", "--dir", NSTemporaryDirectory(),
                ]
                if let password { arguments += ["--requirepass", password] }
                for user in users {
                    arguments += ["--user", user.name, "on", ">" + user.password, "~*", "&*", "+@all"]
                }
                return arguments + extraArguments
            },
            reportedPID: { host, port in
                let info = try await info("server", host: host, port: port, credentials: credentials, timeout: probeTimeout)
                return info["process_id"].flatMap { Int32($0) }
            }
        )
        return RedisServerProcess(process: process, password: password, users: users)
    }

    /// SIGKILL, then wait until the process is reaped so the port is free. Idempotent.
    public func kill() async {
        await process.kill()
    }

    /// SIGSTOP: the process keeps its sockets but stops answering.
    public func suspend() { process.suspend() }

    /// SIGCONT after `suspend()`.
    public func resume() { process.resume() }

    /// Kills the process if it runs, starts it again (empty) on the same port and waits until it
    /// is ready. Retries for up to `restartRetryWindow` while the port is briefly still in use.
    public func restart() async throws {
        try await process.restart()
    }

    /// What redis-server logged (warnings and worse) since it was last launched.
    public func log() -> String {
        process.log()
    }

    /// Sends one command over a fresh plain TCP connection and returns its reply, read by a tiny
    /// RESP2 parser independent of the client under test.
    ///
    /// - Parameters:
    ///   - authenticate: send `AUTH` with the server's credentials first (``password``, else the
    ///     first of ``users``); `false` to see what an unauthenticated client gets.
    ///   - timeout: how long the connection may stay silent; a suspended server makes this throw.
    /// - Throws: ``TestServerError`` when the connection fails, times out or `AUTH` is refused;
    ///   an error reply to the command itself is returned as ``RedisTestReply/error(_:)``.
    public func command(
        _ arguments: [String],
        authenticate: Bool = true,
        timeout: Duration = .seconds(5)
    ) async throws -> RedisTestReply {
        let credentials = authenticate ? Credentials(password: password, users: users) : Credentials()
        return try await Self.command(arguments, host: host, port: port, credentials: credentials, timeout: timeout)
    }

    /// `INFO` (or `INFO <section>`, e.g. `"server"`, `"keyspace"`) as its `key:value` pairs.
    public func info(_ section: String? = nil) async throws -> [String: String] {
        try await Self.info(
            section, host: host, port: port, credentials: Credentials(password: password, users: users),
            timeout: .seconds(5)
        )
    }

    /// Finds redis-server: `$REDIS_SERVER_BINARY`, then `PATH`, then ``fallbackBinaryPaths``.
    public static func findBinary() throws -> String {
        try ServerProcess.findBinary(
            named: binaryName,
            environmentVariable: binaryEnvironmentVariable,
            fallbackPaths: fallbackBinaryPaths,
            notFoundMessage: "redis-server not found in PATH: run `make test` (it installs it) or `apt-get install redis-server`"
        )
    }

    // MARK: - Talking to the server

    /// What `AUTH` sends, if anything.
    private struct Credentials: Sendable {
        var arguments: [String]?

        init() {}

        init(password: String?, users: [(name: String, password: String)]) {
            if let password {
                arguments = ["AUTH", password]
            } else if let user = users.first {
                arguments = ["AUTH", user.name, user.password]
            }
        }
    }

    private static func info(
        _ section: String?,
        host: String,
        port: Int,
        credentials: Credentials,
        timeout: Duration
    ) async throws -> [String: String] {
        let reply = try await command(["INFO"] + (section.map { [$0] } ?? []), host: host, port: port, credentials: credentials, timeout: timeout)
        guard case .bulk(let bytes?) = reply else {
            throw TestServerError("INFO on \(host):\(port) answered \(reply)")
        }
        var result: [String: String] = [:]
        for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline) {
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
            result[String(line[..<colon])] = String(line[line.index(after: colon)...])
        }
        return result
    }

    private static func command(
        _ arguments: [String],
        host: String,
        port: Int,
        credentials: Credentials,
        timeout: Duration
    ) async throws -> RedisTestReply {
        let commands = (credentials.arguments.map { [$0] } ?? []) + [arguments]
        let replies = try await ServerProcess.runBlocking {
            try RedisTestReply.exchange(commands, host: host, port: port, timeout: timeout)
        }
        if commands.count == 2, case .error(let message) = replies[0] {
            throw TestServerError("AUTH on \(host):\(port) was refused: \(message)")
        }
        return replies[replies.count - 1]
    }
}

/// Starts a redis-server, runs `body` with it and always kills it afterwards, also when `body` throws.
public func withRedisServer<T>(
    port: Int? = nil,
    password: String? = nil,
    users: [(name: String, password: String)] = [],
    extraArguments: [String] = [],
    isolation: isolated (any Actor)? = #isolation,
    _ body: (RedisServerProcess) async throws -> T
) async throws -> T {
    let server = try await RedisServerProcess.start(
        port: port, password: password, users: users, extraArguments: extraArguments
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

/// One RESP2 reply as read by the test harness's own small parser.
///
/// Kept apart from RedisClient's decoder on purpose, so tests can check that decoder (and the
/// client) against what a real server says without trusting it.
public indirect enum RedisTestReply: Sendable, Hashable, CustomStringConvertible {
    /// `+OK`.
    case simple(String)
    /// `-ERR ...`, without the `-`.
    case error(String)
    /// `:42`.
    case integer(Int)
    /// `$5\r\nhello`; `nil` for the null bulk string `$-1`.
    case bulk([UInt8]?)
    /// `*2 ...`; `nil` for the null array `*-1`.
    case array([RedisTestReply]?)

    /// A bulk reply holding `text`'s UTF-8 bytes, for comparisons.
    public static func bulk(_ text: String) -> RedisTestReply { .bulk(Array(text.utf8)) }

    /// The reply's text for simple strings and (UTF-8) bulk strings, else `nil`.
    public var text: String? {
        switch self {
        case .simple(let text): return text
        case .bulk(let bytes?): return String(decoding: bytes, as: UTF8.self)
        default: return nil
        }
    }

    /// The reply in a readable form, e.g. `+PONG`, `$5 "hello"`, `-ERR ...`.
    public var description: String {
        switch self {
        case .simple(let text): return "+\(text)"
        case .error(let text): return "-\(text)"
        case .integer(let value): return ":\(value)"
        case .bulk(nil): return "$-1"
        case .bulk(let bytes?): return "$\(bytes.count) \(String(decoding: bytes, as: UTF8.self).debugDescription)"
        case .array(nil): return "*-1"
        case .array(let elements?): return "*\(elements.count) [\(elements.map(\.description).joined(separator: ", "))]"
        }
    }

    /// Encodes `commands` as RESP arrays of bulk strings, sends them pipelined on one fresh
    /// connection and returns one reply per command.
    static func exchange(_ commands: [[String]], host: String, port: Int, timeout: Duration) throws -> [RedisTestReply] {
        var request: [UInt8] = []
        for command in commands {
            request += Array("*\(command.count)\r\n".utf8)
            for argument in command {
                let bytes = Array(argument.utf8)
                request += Array("$\(bytes.count)\r\n".utf8) + bytes + [13, 10]
            }
        }
        let reply = try LoopbackSocket.exchange(request, host: host, port: port, timeout: timeout) { received in
            do {
                return try parseAll(received[...]).map { $0.count >= commands.count } ?? false
            } catch {
                return true  // malformed: stop reading, the parse below reports it
            }
        }
        guard let replies = try parseAll(reply[...]), replies.count == commands.count else {
            throw TestServerError("\(host):\(port) sent more than \(commands.count) replies")
        }
        return replies
    }

    /// Every complete reply in `bytes`; `nil` when the last one is incomplete.
    ///
    /// - Throws: ``TestServerError`` when the bytes are not RESP2.
    public static func parseAll(_ bytes: ArraySlice<UInt8>) throws -> [RedisTestReply]? {
        var replies: [RedisTestReply] = []
        var rest = bytes
        while !rest.isEmpty {
            guard let reply = try parseOne(&rest) else { return nil }
            replies.append(reply)
        }
        return replies
    }

    private static func parseOne(_ bytes: inout ArraySlice<UInt8>) throws -> RedisTestReply? {
        guard let type = bytes.first else { return nil }
        let afterType = bytes.dropFirst()
        guard let lineEnd = afterType.indices.first(where: { afterType[$0] == 13 && $0 + 1 < afterType.endIndex && afterType[$0 + 1] == 10 }) else {
            return nil
        }
        let line = String(decoding: afterType[..<lineEnd], as: UTF8.self)
        bytes = afterType[(lineEnd + 2)...]
        switch type {
        case UInt8(ascii: "+"): return .simple(line)
        case UInt8(ascii: "-"): return .error(line)
        case UInt8(ascii: ":"):
            guard let value = Int(line) else { throw TestServerError("bad RESP integer \(line.debugDescription)") }
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = Int(line), length >= -1 else { throw TestServerError("bad RESP bulk length \(line.debugDescription)") }
            if length == -1 { return .bulk(nil) }
            guard bytes.count >= length + 2 else { return nil }
            let body = Array(bytes.prefix(length))
            bytes = bytes.dropFirst(length + 2)
            return .bulk(body)
        case UInt8(ascii: "*"):
            guard let count = Int(line), count >= -1 else { throw TestServerError("bad RESP array length \(line.debugDescription)") }
            if count == -1 { return .array(nil) }
            var elements: [RedisTestReply] = []
            for _ in 0..<count {
                guard let element = try parseOne(&bytes) else { return nil }
                elements.append(element)
            }
            return .array(elements)
        default:
            throw TestServerError("unexpected RESP type byte \(type) (\(Character(Unicode.Scalar(type))))")
        }
    }
}
