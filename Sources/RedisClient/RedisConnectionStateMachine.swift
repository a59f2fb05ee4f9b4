import DequeModule
import NIOCore

/// The decisions of one pipelined Redis connection, free of I/O.
///
/// Redis answers a connection's commands strictly in order and RESP carries no request id, so
/// pending commands form a FIFO and each reply belongs to the head. Error replies (`-ERR`...) are
/// ordinary replies here: the stream stays in step after them. Out-of-band push frames (RESP3
/// `>`) answer no command and are dropped. Generic over the waiter so unit tests drive it with
/// plain values (the postgres-nio shape: the handler executes actions, this type decides them).
struct RedisConnectionStateMachine<Waiter> {
    private struct PendingCommand {
        var waiter: Waiter
        var deadline: NIODeadline
    }

    private enum State {
        case active
        /// Shutting down gracefully: no new commands, close when the last reply arrives.
        case draining
        case closed(RedisError)
    }

    private var state: State = .active
    private var pending: Deque<PendingCommand> = []

    var pendingCount: Int { pending.count }

    /// Why the connection closed, once it has.
    var closedError: RedisError? {
        if case .closed(let error) = state { return error }
        return nil
    }

    // MARK: Commands

    enum EnqueueAction {
        /// Encode and send the command.
        case write
        /// The connection cannot take it: fail the waiter at once.
        case fail(Waiter, RedisError)
    }

    mutating func enqueue(_ waiter: Waiter, deadline: NIODeadline) -> EnqueueAction {
        switch state {
        case .active:
            pending.append(PendingCommand(waiter: waiter, deadline: deadline))
            return .write
        case .draining:
            return .fail(waiter, RedisError(.clientShutdown, "the connection is shutting down"))
        case .closed(let error):
            return .fail(waiter, error)
        }
    }

    // MARK: Replies

    enum ReceiveAction {
        /// Out-of-band data: nothing to do.
        case none
        /// Hand the reply (possibly an error reply) to this waiter.
        case succeed(Waiter, RESPValue)
        /// Graceful shutdown finished with this reply: deliver it, then close.
        case succeedAndClose(Waiter, RESPValue)
        /// The stream can no longer be trusted: fail everyone and close.
        case close([Waiter], RedisError)
    }

    mutating func receive(_ value: RESPValue) -> ReceiveAction {
        if case .push = value { return .none }
        switch state {
        case .closed:
            return .close([], RedisError(.protocolError, "reply after the connection closed"))
        case .active, .draining:
            guard let head = pending.popFirst() else {
                let error = RedisError(.protocolError, "Redis sent a reply nobody asked for")
                return .close(close(error), error)
            }
            if case .draining = state, pending.isEmpty { return .succeedAndClose(head.waiter, value) }
            return .succeed(head.waiter, value)
        }
    }

    // MARK: Timeouts

    enum TimeoutAction {
        /// Nothing is pending: no timer needed.
        case none
        /// Check again at this deadline (the head's).
        case rearm(NIODeadline)
        /// The head waited past its deadline: the node is hung or too slow; reset the connection.
        case close([Waiter], RedisError)
    }

    /// Called when the connection's single timer fires. Only the head can be the first to expire,
    /// so one timer per connection suffices however many commands are in flight.
    mutating func checkTimeouts(now: NIODeadline, timeout: TimeAmount) -> TimeoutAction {
        guard let head = pending.first else { return .none }
        guard head.deadline <= now else { return .rearm(head.deadline) }
        let error = RedisError(.timeout, "no reply within \(timeout.nanoseconds / 1_000_000) ms")
        return .close(close(error), error)
    }

    /// Deadline the timer should be armed for after an enqueue, if it is not armed yet.
    var earliestDeadline: NIODeadline? { pending.first?.deadline }

    // MARK: Closing

    /// Starts a graceful shutdown; returns true when nothing is pending and the channel can close now.
    mutating func drain() -> Bool {
        guard case .active = state else { return pending.isEmpty }
        state = .draining
        return pending.isEmpty
    }

    /// The channel closed or failed: every waiter fails with `error`.
    mutating func close(_ error: RedisError) -> [Waiter] {
        switch state {
        case .closed: return []
        case .draining: state = .closed(RedisError(.clientShutdown, "the connection was shut down"))
        case .active: state = .closed(error)
        }
        let waiters = pending.map(\.waiter)
        pending.removeAll()
        return waiters
    }
}
