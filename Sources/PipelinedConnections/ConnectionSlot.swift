import NIOCore
import Synchronization

/// One of a node's fixed connections: connects lazily, reconnects after a drop, and backs off
/// exponentially while the node refuses, failing requests fast meanwhile.
///
/// A slot is not a leasing pool: its connection is shared by every caller at once, because the
/// protocols it serves answer pipelined requests in order. Both protocol clients use it; what
/// differs between them (how to connect, their error type, their log lines and metrics) comes in
/// through the initializer.
@usableFromInline
package final class ConnectionSlot<Connection: PipelinedConnection, Failure: PipelineFailure>: Sendable {
    /// What happened, for the client's logs and metrics.
    package enum Event: Sendable {
        /// A connection opened; `afterFailures` > 0 means the node is reachable again.
        case connected(afterFailures: Int)
        /// A connect failed; the next attempt is allowed after `retryIn`.
        case connectFailed(Failure, retryIn: Duration)
    }

    @usableFromInline
    enum State {
        case idle(consecutiveFailures: Int)
        case connecting(EventLoopFuture<Connection>)
        case connected(Connection)
        case backingOff(until: NIODeadline, consecutiveFailures: Int, lastError: Failure)
        case shutDown
    }

    private enum Step {
        case use(Connection)
        case wait(EventLoopFuture<Connection>)
        case connect(EventLoopPromise<Connection>, consecutiveFailures: Int)
        case fail(Failure)
    }

    @usableFromInline let state = Mutex<State>(.idle(consecutiveFailures: 0))
    private let nodeDescription: String
    /// The loop the connection lives on.
    @usableFromInline package let eventLoop: any EventLoop
    private let backoff: ReconnectBackoff
    private let connector: @Sendable (any EventLoop) async throws(Failure) -> Connection
    private let onEvent: @Sendable (Event) -> Void

    /// - Parameters:
    ///   - nodeDescription: names the node in errors (must not contain secrets).
    ///   - eventLoop: the loop the connection lives on.
    ///   - connect: opens (and, where the protocol needs it, authenticates) one connection.
    ///   - onEvent: called after each connect attempt, outside any lock.
    package init(
        nodeDescription: String,
        eventLoop: any EventLoop,
        backoff: ReconnectBackoff,
        connect: @escaping @Sendable (any EventLoop) async throws(Failure) -> Connection,
        onEvent: @escaping @Sendable (Event) -> Void
    ) {
        self.nodeDescription = nodeDescription
        self.eventLoop = eventLoop
        self.backoff = backoff
        self.connector = connect
        self.onEvent = onEvent
    }

    /// The connection if it is up right now; never connects. Inlinable, as the per-request path.
    @inlinable
    package func liveConnection() -> Connection? {
        state.withLock { state in
            if case .connected(let connection) = state, connection.isActive { return connection }
            return nil
        }
    }

    /// True while a connect is under way or failed recently: a request sent here would wait or fail.
    @inlinable
    package var isRecovering: Bool {
        state.withLock { state in
            switch state {
            case .connecting, .backingOff: return true
            default: return false
            }
        }
    }

    /// A live connection, opening one if needed.
    @usableFromInline
    package func connection() async throws(Failure) -> Connection {
        switch nextStep() {
        case .use(let connection):
            return connection
        case .fail(let error):
            throw error
        case .wait(let future):
            do {
                return try await future.get()
            } catch {
                throw error as? Failure ?? Failure.connectFailed(error, node: nodeDescription)
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
                    return .fail(
                        Failure.backingOff(
                            consecutiveFailures: consecutiveFailures,
                            lastError: lastError,
                            retryIn: .nanoseconds((until - now).nanoseconds),
                            node: nodeDescription
                        ))
                }
                return startConnecting(&state, consecutiveFailures: consecutiveFailures)
            case .shutDown:
                return .fail(Self.shutDownError(node: nodeDescription))
            }
        }
    }

    private func startConnecting(_ state: inout State, consecutiveFailures: Int) -> Step {
        let promise = eventLoop.makePromise(of: Connection.self)
        state = .connecting(promise.futureResult)
        return .connect(promise, consecutiveFailures: consecutiveFailures)
    }

    private func connect(fulfilling promise: EventLoopPromise<Connection>, consecutiveFailures: Int) async throws(Failure) -> Connection {
        let connection: Connection
        do {
            connection = try await connector(eventLoop)
        } catch {
            let delay = backoff.delay(afterFailures: consecutiveFailures + 1)
            let wasShutDown = state.withLock { state -> Bool in
                if case .shutDown = state { return true }
                state = .backingOff(
                    until: .now() + .nanoseconds(delay.nanosecondsClamped), consecutiveFailures: consecutiveFailures + 1, lastError: error)
                return false
            }
            if !wasShutDown { onEvent(.connectFailed(error, retryIn: delay)) }
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
            let error = Self.shutDownError(node: nodeDescription)
            promise.fail(error)
            throw error
        }
        connection.closeFuture.whenComplete { [weak self] _ in self?.connectionClosed(connection) }
        onEvent(.connected(afterFailures: consecutiveFailures))
        promise.succeed(connection)
        return connection
    }

    private func connectionClosed(_ connection: Connection) {
        state.withLock { state in
            if case .connected(let current) = state, current === connection {
                state = .idle(consecutiveFailures: 0)
            }
        }
    }

    private static func shutDownError(node: String) -> Failure {
        var error = Failure.pipeline(.clientShutdown, "the client has been shut down")
        error.node = node
        return error
    }

    /// Refuses new requests and closes the connection once its in-flight replies are in.
    package func shutdown() async {
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

extension Duration {
    /// Whole nanoseconds, saturating at both ends: NIO's timers speak `Int64` nanoseconds. (The
    /// session core has the same rule for its metrics; it cannot import this module.)
    package var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return sumOverflow ? (seconds < 0 ? .min : .max) : sum
    }

    /// For log lines and messages.
    package var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
