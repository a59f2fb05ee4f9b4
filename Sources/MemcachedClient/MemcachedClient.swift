import Logging
import NIOCore
import NIOPosix
import PipelinedConnections
import ServiceLifecycle

/// A client of one memcached server, over a small set of pipelined connections.
///
/// Every operation is bounded by the operation timeout and throws ``MemcachedError``; normal
/// outcomes (miss, not stored, CAS conflict) are return values. No connection is opened before
/// the first request. Run it as a swift-service-lifecycle `Service` (or call ``shutdown()``): on
/// graceful shutdown it stops taking requests and closes each connection once its replies are in.
///
/// ```swift
/// let client = try MemcachedClient(server: MemcachedServer(host: "127.0.0.1", port: 11211))
/// try await client.set(MemcachedKey("greeting"), value: ByteBuffer(string: "hello"))
/// ```
///
/// It knows nothing of sessions: msm's node list (ids, failover nodes) is the session store's
/// (`MemcachedSessionStore`), which holds one client per node.
public final class MemcachedClient: Service, Sendable {
    /// The server this client talks to.
    public let server: MemcachedServer
    /// How errors and logs name the server, made once.
    private let serverDescription: String
    private let connections: ConnectionSlots<MemcachedConnection, MemcachedError>
    private let maximumValueLength: Int
    private let metrics: ClientMetrics
    private let logger: Logger

    /// Creates a client; no connection is opened until the first request.
    /// - Throws: ``MemcachedError/Code/invalidValue`` when `configuration` is inconsistent,
    ///   ``MemcachedError/Code/invalidAddress`` when `server` cannot be reached as written.
    public init(
        server: MemcachedServer,
        configuration: MemcachedClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "memcached")
    ) throws(MemcachedError) {
        let configuration = try configuration.validated()
        try server.validate()
        self.server = server
        self.serverDescription = server.description
        self.logger = logger
        self.maximumValueLength = configuration.maximumValueLength
        let metrics = ClientMetrics(prefix: "memcached", server: serverDescription)
        self.metrics = metrics
        let backoff = ReconnectBackoff(initial: configuration.initialReconnectDelay, maximum: configuration.maximumReconnectDelay)
        self.connections = ConnectionSlots(
            count: configuration.connectionsPerNode, server: serverDescription, eventLoopGroup: eventLoopGroup, backoff: backoff,
            metrics: metrics, logger: logger,
            connect: { eventLoop throws(MemcachedError) in
                try await MemcachedConnection.connect(to: server, configuration: configuration, eventLoop: eventLoop)
            }
        )
    }

    // MARK: Reading

    /// Reads an item; `nil` when it does not exist. `touching` also resets its expiration.
    public func get(_ key: MemcachedKey, touching expiration: MemcachedExpiration? = nil) async throws(MemcachedError) -> MemcachedItem? {
        let response = try await execute(.get(key, touch: expiration))
        switch response.status {
        case .value:
            return MemcachedItem(
                value: response.value ?? ByteBuffer(),
                flags: response.clientFlags ?? 0,
                cas: response.cas ?? 0,
                timeToLive: response.timeToLive.flatMap { $0 < 0 ? nil : .seconds($0) }
            )
        case .miss:
            return nil
        default:
            throw unexpected(response, to: "mg")
        }
    }

    /// Resets an item's expiration without reading it; `false` when it does not exist.
    public func touch(_ key: MemcachedKey, expiration: MemcachedExpiration) async throws(MemcachedError) -> Bool {
        let response = try await execute(.touch(key, expiration))
        switch response.status {
        case .stored: return true
        case .miss, .notFound: return false
        default: throw unexpected(response, to: "mg (touch)")
        }
    }

    // MARK: Writing

    /// Stores `value` under `key` as `mode` says; with `cas`, only if the item is unchanged since read.
    public func store(
        _ key: MemcachedKey,
        value: ByteBuffer,
        mode: MemcachedStoreMode = .set,
        expiration: MemcachedExpiration = .never,
        flags: UInt32 = 0,
        cas: UInt64? = nil
    ) async throws(MemcachedError) -> MemcachedStoreResult {
        guard value.readableBytes <= maximumValueLength else {
            throw MemcachedError(
                .invalidValue,
                "the value is \(value.readableBytes) bytes, over the configured maximumValueLength of \(maximumValueLength)",
                node: serverDescription
            )
        }
        let response = try await execute(.store(key, value: value, mode: mode, expiration: expiration, flags: flags, cas: cas))
        switch response.status {
        case .stored: return .stored(cas: response.cas ?? 0)
        case .notStored: return .notStored
        case .exists: return .exists
        case .notFound: return .notFound
        default: throw unexpected(response, to: "ms")
        }
    }

    /// Stores `value` unconditionally.
    public func set(_ key: MemcachedKey, value: ByteBuffer, expiration: MemcachedExpiration = .never, flags: UInt32 = 0) async throws(MemcachedError)
    {
        _ = try await store(key, value: value, mode: .set, expiration: expiration, flags: flags)
    }

    /// Stores `value` only if `key` is absent; `true` when it was stored. The primitive behind locks.
    public func add(
        _ key: MemcachedKey, value: ByteBuffer, expiration: MemcachedExpiration = .never, flags: UInt32 = 0
    ) async throws(MemcachedError) -> Bool {
        if case .stored = try await store(key, value: value, mode: .add, expiration: expiration, flags: flags) { return true }
        return false
    }

    /// Removes an item; with `cas`, only if it is unchanged since read.
    @discardableResult
    public func delete(_ key: MemcachedKey, cas: UInt64? = nil) async throws(MemcachedError) -> MemcachedDeleteResult {
        let response = try await execute(.delete(key, cas: cas))
        switch response.status {
        case .stored: return .deleted
        case .notFound: return .notFound
        case .exists: return .exists
        default: throw unexpected(response, to: "md")
        }
    }

    /// Adds `delta` to a decimal counter; `nil` when it does not exist and `initial` is not given.
    /// With `initial`, a missing counter is created with that value (and the delta is not applied).
    public func increment(
        _ key: MemcachedKey, by delta: UInt64 = 1, initial: (value: UInt64, expiration: MemcachedExpiration)? = nil
    ) async throws(MemcachedError) -> UInt64? {
        try await arithmetic(key, increment: true, delta: delta, initial: initial)
    }

    /// Subtracts `delta` from a decimal counter, stopping at 0; `nil` when it does not exist.
    public func decrement(
        _ key: MemcachedKey, by delta: UInt64 = 1, initial: (value: UInt64, expiration: MemcachedExpiration)? = nil
    ) async throws(MemcachedError) -> UInt64? {
        try await arithmetic(key, increment: false, delta: delta, initial: initial)
    }

    private func arithmetic(
        _ key: MemcachedKey, increment: Bool, delta: UInt64, initial: (value: UInt64, expiration: MemcachedExpiration)?
    ) async throws(MemcachedError) -> UInt64? {
        let response = try await execute(.arithmetic(key, increment: increment, delta: delta, initial: initial))
        switch response.status {
        case .value:
            let text = response.value.map { String(buffer: $0) } ?? ""
            guard let number = UInt64(text) else {
                throw MemcachedError(.protocolError, "ma answered a non-numeric value \"\(text.prefix(32))\"", node: serverDescription)
            }
            return number
        case .notFound, .miss:
            return nil
        default:
            throw unexpected(response, to: "ma")
        }
    }

    // MARK: Health

    /// A round trip that touches no data (`mn`): proves the server answers.
    public func noop() async throws(MemcachedError) {
        let response = try await execute(.noop)
        guard response.status == .noop else { throw unexpected(response, to: "mn") }
    }

    /// The server's version string, e.g. `1.6.18`.
    public func version() async throws(MemcachedError) -> String {
        let response = try await execute(.version)
        guard case .version(let version) = response.status else { throw unexpected(response, to: "version") }
        return version
    }

    // MARK: Plumbing

    private func execute(_ command: MemcachedRequest.Command) async throws(MemcachedError) -> MemcachedResponse {
        metrics.requests.increment()
        do {
            return try await connections.connection().execute(MemcachedRequest(command: command)).get()
        } catch {
            metrics.recordFailure(code: error.code.description)
            throw error
        }
    }

    private func unexpected(_ response: MemcachedResponse, to command: String) -> MemcachedError {
        guard response.status != .unauthenticated else {
            var error = MemcachedError.unauthenticated
            error.node = serverDescription
            return error
        }
        return MemcachedError(.protocolError, "unexpected reply \(response.status) to \(command)", node: serverDescription)
    }

    // MARK: Lifecycle

    /// Runs until graceful shutdown, then drains and closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops taking requests and closes every connection once its in-flight replies are in.
    /// Bounded: a hung server's connection is reset by the operation timeout.
    public func shutdown() async {
        logger.debug("memcached client shutting down", metadata: ["memcached.server": "\(server)"])
        await connections.shutdown()
    }
}
