import DequeModule
import NIOCore

/// The decisions of one pipelined connection, free of I/O.
///
/// Requests are answered strictly in order, so pending requests form a FIFO and every reply is
/// paired with the head; the protocol's ``PipelineProtocol/disposition(of:expected:)`` checks the
/// pairing and classifies failures. Generic over the waiter so unit tests drive it with plain
/// values (the postgres-nio shape: the handler executes actions, this type decides them).
///
/// `@inlinable` throughout so each client's module specializes it for its protocol: unspecialized,
/// every call would look up generic metadata at run time.
@usableFromInline
package struct PipelineStateMachine<Protocol: PipelineProtocol, Waiter> {
    @usableFromInline package typealias Failure = Protocol.Failure

    @usableFromInline
    struct PendingRequest {
        @usableFromInline var waiter: Waiter
        @usableFromInline var expectation: Protocol.Expectation
        @usableFromInline var deadline: NIODeadline

        @inlinable
        init(waiter: Waiter, expectation: Protocol.Expectation, deadline: NIODeadline) {
            self.waiter = waiter
            self.expectation = expectation
            self.deadline = deadline
        }
    }

    @usableFromInline
    enum State {
        case active
        /// Shutting down gracefully: no new requests, close when the last reply arrives.
        case draining
        case closed(Failure)
    }

    @usableFromInline var state: State = .active
    @usableFromInline var pending: Deque<PendingRequest> = []
    @usableFromInline var sequence: UInt32 = 0

    @inlinable
    package init() {}

    @inlinable
    package var pendingCount: Int { pending.count }

    /// Why the connection closed, once it has.
    @inlinable
    package var closedError: Failure? {
        if case .closed(let error) = state { return error }
        return nil
    }

    // MARK: Requests

    @usableFromInline
    package enum EnqueueAction {
        /// Encode and send the request with this sequence number.
        case write(sequence: UInt32)
        /// The connection cannot take it: fail the waiter at once.
        case fail(Waiter, Failure)
    }

    @inlinable
    package mutating func enqueue(_ waiter: Waiter, request: Protocol.Request, deadline: NIODeadline) -> EnqueueAction {
        switch state {
        case .active:
            sequence &+= 1
            let expectation = Protocol.expectation(for: request, sequence: sequence)
            pending.append(PendingRequest(waiter: waiter, expectation: expectation, deadline: deadline))
            return .write(sequence: sequence)
        case .draining:
            return .fail(waiter, .pipeline(.clientShutdown, "the connection is shutting down"))
        case .closed(let error):
            return .fail(waiter, error)
        }
    }

    // MARK: Replies

    @usableFromInline
    package enum ReceiveAction {
        /// Out-of-band data: nothing to do.
        case none
        /// Hand the reply to this waiter.
        case succeed(Waiter, Protocol.Reply)
        /// This request failed, but the stream is still in step: keep the connection.
        case fail(Waiter, Failure)
        /// The stream can no longer be trusted (or a drain ended on a failed reply): fail the
        /// head with its own error and everyone else with the other, then close.
        case close([Waiter], Failure, head: (Waiter, Failure)?)
        /// Graceful shutdown finished with this reply: deliver it, then close.
        case succeedAndClose(Waiter, Protocol.Reply)
    }

    @inlinable
    package mutating func receive(_ reply: Protocol.Reply) -> ReceiveAction {
        if Protocol.isOutOfBand(reply) { return .none }
        let draining: Bool
        switch state {
        case .active: draining = false
        case .draining: draining = true
        case .closed: return .close([], .pipeline(.protocolError, "reply after the connection closed"), head: nil)
        }
        guard let head = pending.popFirst() else {
            return closeAll(.pipeline(.protocolError, "\(Protocol.peerName) sent a reply nobody asked for"))
        }
        let lastOfDrain = draining && pending.isEmpty
        switch Protocol.disposition(of: reply, expected: head.expectation) {
        case .deliver:
            return lastOfDrain ? .succeedAndClose(head.waiter, reply) : .succeed(head.waiter, reply)
        case .failRequest(let error):
            return lastOfDrain ? .close([], error, head: (head.waiter, error)) : .fail(head.waiter, error)
        case .failConnection(let error):
            return closeAll(error, head: head.waiter)
        }
    }

    // MARK: Timeouts

    @usableFromInline
    package enum TimeoutAction {
        /// Nothing is pending: no timer needed.
        case none
        /// Check again at this deadline (the head's).
        case rearm(NIODeadline)
        /// The head waited past its deadline: the node is hung or too slow; reset the connection.
        case close([Waiter], Failure)
    }

    /// Called when the connection's single timer fires. Only the head can be the first to expire,
    /// so one timer per connection suffices however many requests are in flight.
    @inlinable
    package mutating func checkTimeouts(now: NIODeadline, timeout: TimeAmount) -> TimeoutAction {
        guard let head = pending.first else { return .none }
        guard head.deadline <= now else { return .rearm(head.deadline) }
        let error = Failure.pipeline(.timeout, "no reply within \(timeout.nanoseconds / 1_000_000) ms")
        return .close(close(error), error)
    }

    /// Deadline the timer should be armed for after an enqueue, if it is not armed yet.
    @inlinable
    package var earliestDeadline: NIODeadline? { pending.first?.deadline }

    // MARK: Closing

    /// Starts a graceful shutdown; returns true when nothing is pending and the channel can close now.
    @inlinable
    package mutating func drain() -> Bool {
        guard case .active = state else { return pending.isEmpty }
        state = .draining
        return pending.isEmpty
    }

    /// The channel closed or failed: every waiter fails with `error`.
    @inlinable
    package mutating func close(_ error: Failure) -> [Waiter] {
        switch state {
        case .closed: return []
        case .draining: state = .closed(.pipeline(.clientShutdown, "the connection was shut down"))
        case .active: state = .closed(error)
        }
        let waiters = pending.map(\.waiter)
        pending.removeAll()
        return waiters
    }

    /// Fails `head` with `error` and everyone else, including requests that still reach the
    /// closed connection, with "reset after an earlier failure": they were not at fault.
    @inlinable
    mutating func closeAll(_ error: Failure, head: Waiter? = nil) -> ReceiveAction {
        guard let head else { return .close(close(error), error, head: nil) }
        let followers = Failure.pipeline(.connectionReset, "connection reset after an earlier request's failure: \(error.message)")
        return .close(close(followers), followers, head: (head, error))
    }
}
