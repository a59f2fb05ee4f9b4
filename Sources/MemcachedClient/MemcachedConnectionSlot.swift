import Logging
import NIOCore
import Synchronization

/// One of a node's fixed connections: connects lazily, reconnects after a drop, and backs off
/// exponentially while the node refuses, failing requests fast meanwhile.
///
/// A slot is not a leasing pool: its connection is shared by every caller at once, because
/// memcached answers pipelined requests in order.
final class MemcachedConnectionSlot: Sendable {
    private enum State {
        case idle(consecutiveFailures: Int)
        case connecting(EventLoopFuture<MemcachedConnection>)
        case connected(MemcachedConnection)
        case backingOff(until: NIODeadline, consecutiveFailures: Int, lastError: MemcachedError)
        case shutDown
    }

    private enum Step {
        case use(MemcachedConnection)
        case wait(EventLoopFuture<MemcachedConnection>)
        case connect(EventLoopPromise<MemcachedConnection>, consecutiveFailures: Int)
        case fail(MemcachedError)
    }

    private let state = Mutex<State>(.idle(consecutiveFailures: 0))
    private let node: MemcachedNode
    private let eventLoop: any EventLoop
    private let configuration: MemcachedClientConfiguration
    private let logger: Logger
    private let metrics: MemcachedNodeMetrics

    init(node: MemcachedNode, eventLoop: any EventLoop, configuration: MemcachedClientConfiguration, logger: Logger, metrics: MemcachedNodeMetrics) {
        self.node = node
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
    }

    /// The connection if it is up right now; never connects.
    func liveConnection() -> MemcachedConnection? {
        state.withLock { state in
            if case .connected(let connection) = state, connection.isActive { return connection }
            return nil
        }
    }

    /// True while a connect is under way or failed recently: a request sent here would wait or fail.
    var isRecovering: Bool {
        state.withLock { state in
            switch state {
            case .connecting, .backingOff: return true
            default: return false
            }
        }
    }

    /// A live connection, opening one if needed.
    func connection() async throws(MemcachedError) -> MemcachedConnection {
        switch nextStep() {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait(let future):
            do {
                return try await future.get()
            } catch {
                throw error as? MemcachedError ?? MemcachedError(.connectFailed, "\(error)", node: node.description)
            }
        case .connect(let promise, let consecutiveFailures):
            return try await connect(fulfilling: promise, consecutiveFailures: consecutiveFailures)
        }
    }

    private func nextStep() -> Step {
        state.withLock { state -> Step in
            switch state {
            case .connected(let connection) where connection.isActive:
                return .use(connection)
            case .connected:
                return startConnecting(&state, consecutiveFailures: 0)
            case .idle(let consecutiveFailures):
                return startConnecting(&state, consecutiveFailures: consecutiveFailures)
            case .connecting(let future):
                return .wait(future)
            case .backingOff(let until, let consecutiveFailures, let lastError):
                let now = NIODeadline.now()
                guard now >= until else {
                    let retryInMilliseconds = (until - now).nanoseconds / 1_000_000
                    return .fail(MemcachedError(
                        .nodeUnavailable,
                        "the node failed \(consecutiveFailures) time(s) in a row (last: \(lastError.message)); next reconnect in \(retryInMilliseconds) ms",
                        node: node.description
                    ))
                }
                return startConnecting(&state, consecutiveFailures: consecutiveFailures)
            case .shutDown:
                return .fail(MemcachedError(.clientShutdown, "the client has been shut down", node: node.description))
            }
        }
    }

    private func startConnecting(_ state: inout State, consecutiveFailures: Int) -> Step {
        let promise = eventLoop.makePromise(of: MemcachedConnection.self)
        state = .connecting(promise.futureResult)
        return .connect(promise, consecutiveFailures: consecutiveFailures)
    }

    private func connect(fulfilling promise: EventLoopPromise<MemcachedConnection>, consecutiveFailures: Int) async throws(MemcachedError) -> MemcachedConnection {
        let connection: MemcachedConnection
        do {
            connection = try await MemcachedConnection.connect(to: node, configuration: configuration, eventLoop: eventLoop)
        } catch {
            let delay = reconnectDelay(afterFailures: consecutiveFailures + 1)
            let wasShutDown = state.withLock { state -> Bool in
                if case .shutDown = state { return true }
                state = .backingOff(until: .now() + TimeAmount(delay), consecutiveFailures: consecutiveFailures + 1, lastError: error)
                return false
            }
            metrics.connectFailures.increment()
            if !wasShutDown {
                logger.warning("memcached node unreachable", metadata: [
                    "memcached.node": "\(node)", "error": "\(error.message)",
                    "memcached.retry_in_ms": "\(delay.wholeMilliseconds)",
                ])
            }
            promise.fail(error)
            throw error
        }

        let accepted = state.withLock { state -> Bool in
            if case .shutDown = state { return false }
            state = .connected(connection)
            return true
        }
        guard accepted else {
            await connection.close()
            let error = MemcachedError(.clientShutdown, "the client has been shut down", node: node.description)
            promise.fail(error)
            throw error
        }
        connection.channel.closeFuture.whenComplete { [weak self] _ in self?.connectionClosed(connection) }
        metrics.connects.increment()
        if consecutiveFailures > 0 {
            logger.info("memcached node reachable again", metadata: ["memcached.node": "\(node)", "memcached.failed_attempts": "\(consecutiveFailures)"])
        }
        promise.succeed(connection)
        return connection
    }

    private func connectionClosed(_ connection: MemcachedConnection) {
        state.withLock { state in
            if case .connected(let current) = state, current === connection {
                state = .idle(consecutiveFailures: 0)
            }
        }
    }

    private func reconnectDelay(afterFailures failures: Int) -> Duration {
        let doublings = min(failures - 1, 30)
        let delay = configuration.initialReconnectDelay * (1 << doublings)
        return min(delay, configuration.maximumReconnectDelay)
    }

    /// Refuses new requests and closes the connection once its in-flight replies are in.
    func shutdown() async {
        let previous = state.withLock { state -> State in
            defer { state = .shutDown }
            return state
        }
        switch previous {
        case .connected(let connection):
            await connection.drain()
        case .connecting(let future):
            if let connection = try? await future.get() { await connection.drain() }
        default:
            break
        }
    }
}
