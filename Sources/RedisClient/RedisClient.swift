import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PipelinedConnections
import ServiceLifecycle

/// A client of one Redis server (and database), over a small set of pipelined connections.
///
/// Every command is bounded by the operation timeout and throws ``RedisError``, error replies
/// included; normal outcomes (a missing key, a condition not met) are return values. No
/// connection is opened before the first command; each runs `AUTH` and `SELECT` (or a `PING`)
/// before it is used. Run it as a swift-service-lifecycle `Service` (or call ``shutdown()``): on
/// graceful shutdown it stops taking commands and closes each connection once its replies are in.
///
/// ```swift
/// let client = try RedisClient(server: RedisServer(url: "redis://:secret@127.0.0.1:6379/1"))
/// try await client.set("greeting", value: ByteBuffer(string: "hello"), expiration: .seconds(60))
/// ```
///
/// It knows nothing of sessions: msm's node list (ids, failover nodes) is the session store's
/// (`RedisSessionStore`), which holds one client per node.
public final class RedisClient: Service, Sendable {
    /// The server this client talks to.
    public let server: RedisServer
    /// How errors and logs name the server (password as `***`), made once.
    private let serverDescription: String
    private let connections: ConnectionSlots<RedisConnection, RedisError>
    private let maximumValueLength: Int
    private let metrics: ClientMetrics
    private let logger: Logger

    /// Creates a client; no connection is opened until the first command.
    /// - Throws: ``RedisError/Code/invalidArgument`` when `configuration` is inconsistent or its
    ///   TLS settings cannot be loaded for a `rediss://` server (a missing CA file, say);
    ///   ``RedisError/Code/invalidAddress`` when `server` cannot be used as given.
    public init(
        server: RedisServer,
        configuration: RedisClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) throws(RedisError) {
        let configuration = try configuration.validated()
        try server.validate()
        self.server = server
        self.serverDescription = server.description
        self.logger = logger
        let tls: NIOSSLContext?
        do {
            tls = server.usesTLS ? try NIOSSLContext(configuration: configuration.tlsConfiguration) : nil
        } catch {
            throw RedisError(.invalidArgument, "the TLS configuration cannot be used: \(error)", node: serverDescription)
        }
        self.maximumValueLength = configuration.maximumValueLength
        // The database belongs in the label: two nodes may be two databases of one server.
        let metrics = ClientMetrics(prefix: "redis", server: server.database == 0 ? server.endpoint : "\(server.endpoint)/\(server.database)")
        self.metrics = metrics
        let backoff = ReconnectBackoff(initial: configuration.initialReconnectDelay, maximum: configuration.maximumReconnectDelay)
        self.connections = ConnectionSlots(
            count: configuration.connectionsPerNode, server: serverDescription, eventLoopGroup: eventLoopGroup, backoff: backoff,
            metrics: metrics, logger: logger,
            connect: { eventLoop throws(RedisError) in
                try await RedisConnection.connect(to: server, configuration: configuration, tls: tls, eventLoop: eventLoop)
            }
        )
    }

    // MARK: Strings

    /// `GET`: the value, or `nil` when the key does not exist.
    public func get(_ key: String) async throws(RedisError) -> ByteBuffer? {
        switch try await execute(try command { () throws(RESPCommandError) in try .get(key) }) {
        case .bulkString(let value): return value
        case .null: return nil
        case let other: throw unexpected(other, to: "GET")
        }
    }

    /// `SET` with an optional time to live (rounded up to whole milliseconds) and condition;
    /// `true` when stored, `false` when the condition (`NX`/`XX`) was not met. Without an
    /// expiration the key loses any time to live it had.
    @discardableResult
    public func set(
        _ key: String,
        value: ByteBuffer,
        expiration: Duration? = nil,
        condition: RESPCommand.SetCondition = .always
    ) async throws(RedisError) -> Bool {
        let timeToLive = try expiration.map { duration throws(RedisError) in try milliseconds(duration) }
        return try await store(key, value: value, expiration: timeToLive.map { .milliseconds($0) }, condition: condition)
    }

    /// `SET ... KEEPTTL`: replaces the value and keeps the key's time to live, atomically (a new
    /// key never expires).
    public func setKeepingTimeToLive(_ key: String, value: ByteBuffer) async throws(RedisError) {
        _ = try await store(key, value: value, expiration: .keepTTL, condition: .always)
    }

    private func store(
        _ key: String,
        value: ByteBuffer,
        expiration: RESPCommand.SetExpiration?,
        condition: RESPCommand.SetCondition
    ) async throws(RedisError) -> Bool {
        guard value.readableBytes <= maximumValueLength else {
            throw RedisError(
                .invalidArgument,
                "the value is \(value.readableBytes) bytes, over the configured maximumValueLength of \(maximumValueLength)",
                node: serverDescription
            )
        }
        let reply = try await execute(
            try command { () throws(RESPCommandError) in
                try .set(key, value, expiration: expiration, condition: condition)
            })
        switch reply {
        case .simpleString("OK"): return true
        case .null, .bulkString(nil): return false
        case let other: throw unexpected(other, to: "SET")
        }
    }

    /// `DEL`: `true` when the key existed.
    @discardableResult
    public func delete(_ key: String) async throws(RedisError) -> Bool {
        try await integer(try command { () throws(RESPCommandError) in try .del(key) }, "DEL") > 0
    }

    /// `PEXPIRE`: sets the time to live; `false` when the key does not exist.
    @discardableResult
    public func expire(_ key: String, after duration: Duration) async throws(RedisError) -> Bool {
        let milliseconds = try milliseconds(duration)
        return try await integer(try command { () throws(RESPCommandError) in try .pexpire(key, milliseconds: milliseconds) }, "PEXPIRE") == 1
    }

    /// What `PTTL` says about a key.
    public enum TimeToLive: Sendable, Hashable {
        /// The key does not exist.
        case missing
        /// The key exists and never expires.
        case persistent
        /// The key expires after this long.
        case expires(after: Duration)
    }

    /// `PTTL`: how long the key has left.
    public func timeToLive(_ key: String) async throws(RedisError) -> TimeToLive {
        switch try await integer(try command { () throws(RESPCommandError) in try .pttl(key) }, "PTTL") {
        case -2: return .missing
        case -1: return .persistent
        case let milliseconds: return .expires(after: .milliseconds(milliseconds))
        }
    }

    /// Deletes `key` only while it still holds `value`, atomically (a Lua script): how a lock's
    /// owner releases it without removing a lock someone else took after it expired.
    /// `true` when deleted.
    @discardableResult
    public func delete(_ key: String, ifValueIs value: ByteBuffer) async throws(RedisError) -> Bool {
        switch try await evaluate(.deleteIfEqual, keys: [key], arguments: [RESPArgument(value)]) {
        case .integer(let removed): return removed > 0
        case let other: throw unexpected(other, to: "EVALSHA (delete if equal)")
        }
    }

    /// Runs `script` with `EVALSHA`, sending its source with `EVAL` only when Redis answers
    /// `NOSCRIPT`.
    public func evaluate(_ script: RedisScript, keys: [String], arguments: [RESPArgument] = []) async throws(RedisError) -> RESPValue {
        do throws(RedisError) {
            return try await execute(
                try command { () throws(RESPCommandError) in
                    try .evalsha(script.sha1, keys: keys, arguments: arguments)
                })
        } catch  where error.code == .scriptNotFound {
            return try await execute(
                try command { () throws(RESPCommandError) in
                    try .eval(script.source, keys: keys, arguments: arguments)
                })
        }
    }

    // MARK: Health

    /// `PING`: proves the node answers (and that our credentials still hold).
    public func ping() async throws(RedisError) {
        let reply = try await execute(.ping())
        guard case .simpleString("PONG") = reply else { throw unexpected(reply, to: "PING") }
    }

    // MARK: Any command

    /// Sends any command and returns its reply; an error reply is thrown as ``RedisError`` with
    /// Redis' first word in ``RedisError/serverErrorCode``.
    ///
    /// The connection is shared by every caller and replies are paired with commands by position,
    /// so commands that change the connection's state or its one-reply-per-command rhythm
    /// (`SELECT`, `AUTH`, `HELLO`, `MULTI`, `WATCH`, `SUBSCRIBE`, `MONITOR`, `RESET`, `QUIT`,
    /// `CLIENT REPLY`...) are refused with ``RedisError/Code/invalidArgument`` before anything is
    /// sent. Blocking commands (`BLPOP`...) hold up every caller behind them: avoid them here.
    public func send(_ command: RESPCommand) async throws(RedisError) -> RESPValue {
        try refuseIfUnsafe(command)
        return try await execute(command)
    }

    /// Sends `commands` back to back on one connection, in one hop, and returns their replies in
    /// the same order, each a success or a ``RedisError`` (an error reply fails only its own
    /// command). The way to pipeline from a single caller: N commands cost one round trip and one
    /// wake-up instead of N.
    ///
    /// - Throws: ``RedisError`` only when no command was sent: a refused command (see
    ///   ``send(_:)``) or no connection to the node.
    public func pipeline(_ commands: [RESPCommand]) async throws(RedisError) -> [Result<RESPValue, RedisError>] {
        for command in commands { try refuseIfUnsafe(command) }
        metrics.requests.increment(by: commands.count)
        let connection: RedisConnection
        do throws(RedisError) {
            connection = try await connections.connection()
        } catch {
            metrics.recordFailure(code: error.code.description)
            throw error
        }
        return await connection.execute(batch: commands).map { reply in
            Result { () throws(RedisError) in try self.value(of: reply) }
        }
    }

    // MARK: Plumbing

    /// The commands this client builds itself: known to be safe, so not re-checked per request.
    private func execute(_ command: RESPCommand) async throws(RedisError) -> RESPValue {
        metrics.requests.increment()
        let reply: Result<RESPValue, RedisError>
        do throws(RedisError) {
            reply = try await connections.connection().execute(command)
        } catch {
            metrics.recordFailure(code: error.code.description)
            throw error
        }
        return try value(of: reply)
    }

    /// A reply as a value, or as a ``RedisError`` when it is an error reply or no reply came;
    /// failures are counted.
    private func value(of reply: Result<RESPValue, RedisError>) throws(RedisError) -> RESPValue {
        let error: RedisError
        switch reply {
        case .success(.error(let refusal)): error = RedisError(reply: refusal, node: serverDescription)
        case .success(let value): return value
        case .failure(let failure): error = failure
        }
        metrics.recordFailure(code: error.code.description)
        throw error
    }

    private func refuseIfUnsafe(_ command: RESPCommand) throws(RedisError) {
        if let reason = Self.refusal(of: command) {
            throw RedisError(.invalidArgument, reason, node: serverDescription)
        }
    }

    private static let connectionStateCommands: Set<String> = [
        "SELECT", "AUTH", "HELLO", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH", "SUBSCRIBE", "PSUBSCRIBE",
        "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR", "RESET", "QUIT", "SYNC", "PSYNC",
    ]

    /// Why `command` may not travel on a shared connection, or `nil` when it may.
    static func refusal(of command: RESPCommand) -> String? {
        let name = command.name.uppercased()
        if connectionStateCommands.contains(name) {
            return "\(name) changes the state of a connection shared by every caller and is not sent; use a dedicated client for it"
        }
        if name == "CLIENT", let subcommand = command.arguments.first?.text, ["REPLY", "TRACKING"].contains(subcommand.uppercased()) {
            return "CLIENT \(subcommand.uppercased()) would break the pairing of replies on a shared connection and is not sent"
        }
        return nil
    }

    private func integer(_ command: RESPCommand, _ name: String) async throws(RedisError) -> Int64 {
        let reply = try await execute(command)
        guard case .integer(let value) = reply else { throw unexpected(reply, to: name) }
        return value
    }

    /// Builds a command, turning a refused argument into ``RedisError/Code/invalidArgument``.
    private func command(_ make: () throws(RESPCommandError) -> RESPCommand) throws(RedisError) -> RESPCommand {
        do {
            return try make()
        } catch {
            throw RedisError(.invalidArgument, error.description, node: serverDescription)
        }
    }

    /// Whole milliseconds, rounded up so a short positive duration never means "expire now".
    private func milliseconds(_ duration: Duration) throws(RedisError) -> Int64 {
        guard duration > .zero else {
            throw RedisError(.invalidArgument, "a time to live must be positive, not \(duration)", node: serverDescription)
        }
        let nanoseconds = duration.nanosecondsClamped
        return nanoseconds / 1_000_000 + (nanoseconds % 1_000_000 == 0 ? 0 : 1)
    }

    private func unexpected(_ reply: RESPValue, to command: String) -> RedisError {
        RedisError(.protocolError, "unexpected reply \(reply) to \(command)", node: serverDescription)
    }

    // MARK: Lifecycle

    /// Runs until graceful shutdown, then drains and closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops taking commands and closes every connection once its in-flight replies are in.
    /// Bounded: a hung server's connection is reset by the operation timeout.
    public func shutdown() async {
        logger.debug("redis client shutting down", metadata: ["redis.server": "\(server)"])
        await connections.shutdown()
    }
}
