import Logging
import NIOCore
import PipelinedConnections

/// The operations of one memcached node, over its small set of pipelined connections.
///
/// msm addresses nodes by the id carried in the session id rather than by hashing keys, so this
/// type is what the session layer holds: one per configured node. Every operation is bounded by
/// the operation timeout and throws ``MemcachedError``; normal outcomes (miss, not stored, CAS
/// conflict) are return values.
public final class MemcachedNodeClient: Sendable {
    /// The node this client talks to.
    public let node: MemcachedNode
    private let connections: ConnectionSlots<MemcachedConnection, MemcachedError>
    private let maximumValueLength: Int
    private let metrics: MemcachedNodeMetrics

    init(node: MemcachedNode, configuration: MemcachedClientConfiguration, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.node = node
        self.maximumValueLength = configuration.maximumValueLength
        let metrics = MemcachedNodeMetrics(node: node)
        self.metrics = metrics
        let backoff = ReconnectBackoff(initial: configuration.initialReconnectDelay, maximum: configuration.maximumReconnectDelay)
        self.connections = ConnectionSlots(
            (0..<configuration.connectionsPerNode).map { _ in
                ConnectionSlot(
                    nodeDescription: node.description,
                    eventLoop: eventLoopGroup.next(),
                    backoff: backoff,
                    connect: { eventLoop throws(MemcachedError) in
                        try await MemcachedConnection.connect(to: node, configuration: configuration, eventLoop: eventLoop)
                    },
                    onEvent: { event in Self.record(event, node: node, logger: logger, metrics: metrics) }
                )
            })
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
                node: node.description
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
                throw MemcachedError(.protocolError, "ma answered a non-numeric value \"\(text.prefix(32))\"", node: node.description)
            }
            return number
        case .notFound, .miss:
            return nil
        default:
            throw unexpected(response, to: "ma")
        }
    }

    // MARK: Health

    /// A round trip that touches no data (`mn`): proves the node answers.
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
            metrics.recordFailure(error)
            throw error
        }
    }

    private static func record(
        _ event: ConnectionSlot<MemcachedConnection, MemcachedError>.Event, node: MemcachedNode, logger: Logger, metrics: MemcachedNodeMetrics
    ) {
        switch event {
        case .connected(let afterFailures):
            metrics.connects.increment()
            if afterFailures > 0 {
                logger.info(
                    "memcached node reachable again", metadata: ["memcached.node": "\(node)", "memcached.failed_attempts": "\(afterFailures)"])
            }
        case .connectFailed(let error, let retryIn):
            metrics.connectFailures.increment()
            logger.warning(
                "memcached node unreachable",
                metadata: [
                    "memcached.node": "\(node)", "error": "\(error.message)",
                    "memcached.retry_in_ms": "\(retryIn.wholeMilliseconds)",
                ])
        }
    }

    private func unexpected(_ response: MemcachedResponse, to command: String) -> MemcachedError {
        MemcachedError(.protocolError, "unexpected reply \(response.status) to \(command)", node: node.description)
    }

    /// Stops taking requests and closes every connection once its in-flight replies are in.
    func shutdown() async {
        await connections.shutdown()
    }
}
