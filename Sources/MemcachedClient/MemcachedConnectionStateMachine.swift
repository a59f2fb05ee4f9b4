import DequeModule
import NIOCore

/// The decisions of one pipelined memcached connection, free of I/O.
///
/// Requests are answered strictly in order, so pending requests form a FIFO and every reply is
/// paired with the head; the opaque token it echoes proves the pairing. Generic over the waiter so
/// unit tests drive it with plain values (the postgres-nio shape: the handler executes actions,
/// this type decides them).
struct MemcachedConnectionStateMachine<Waiter> {
    struct PendingRequest {
        var waiter: Waiter
        /// The opaque token the reply must echo; `nil` for `mn` and `version`.
        var opaque: UInt32?
        var deadline: NIODeadline
    }

    private enum State {
        case active
        /// Shutting down gracefully: no new requests, close when the last reply arrives.
        case draining
        case closed(MemcachedError)
    }

    private var state: State = .active
    private var pending: Deque<PendingRequest> = []
    private var lastOpaque: UInt32 = 0

    var pendingCount: Int { pending.count }

    /// Why the connection closed, once it has.
    var closedError: MemcachedError? {
        if case .closed(let error) = state { return error }
        return nil
    }

    // MARK: Requests

    enum EnqueueAction {
        /// Encode and send the request with this opaque token.
        case write(opaque: UInt32)
        /// The connection cannot take it: fail the waiter at once.
        case fail(Waiter, MemcachedError)
    }

    mutating func enqueue(_ waiter: Waiter, usesOpaque: Bool, deadline: NIODeadline) -> EnqueueAction {
        switch state {
        case .active:
            lastOpaque &+= 1
            pending.append(PendingRequest(waiter: waiter, opaque: usesOpaque ? lastOpaque : nil, deadline: deadline))
            return .write(opaque: lastOpaque)
        case .draining:
            return .fail(waiter, MemcachedError(.clientShutdown, "the connection is shutting down"))
        case .closed(let error):
            return .fail(waiter, error)
        }
    }

    // MARK: Replies

    enum ReceiveAction {
        /// Hand the reply to this waiter.
        case succeed(Waiter, MemcachedResponse)
        /// This request failed, but the stream is still in step: keep the connection.
        case fail(Waiter, MemcachedError)
        /// The stream can no longer be trusted: fail everyone and close.
        case close([Waiter], MemcachedError, head: (Waiter, MemcachedError)?)
        /// Graceful shutdown finished with this reply: deliver it, then close.
        case succeedAndClose(Waiter, MemcachedResponse)
    }

    mutating func receive(_ response: MemcachedResponse) -> ReceiveAction {
        guard case .active = state else {
            if case .draining = state { return receiveWhileDraining(response) }
            return .close([], MemcachedError(.protocolError, "reply after the connection closed"), head: nil)
        }
        return pairWithHead(response)
    }

    private mutating func receiveWhileDraining(_ response: MemcachedResponse) -> ReceiveAction {
        let action = pairWithHead(response)
        guard pending.isEmpty else { return action }
        switch action {
        case .succeed(let waiter, let response): return .succeedAndClose(waiter, response)
        case .fail(let waiter, let error): return .close([], error, head: (waiter, error))  // the last reply: close now
        case .close, .succeedAndClose: return action
        }
    }

    private mutating func pairWithHead(_ response: MemcachedResponse) -> ReceiveAction {
        guard let head = pending.popFirst() else {
            return closeAll(MemcachedError(.protocolError, "memcached sent a reply nobody asked for"))
        }
        switch response.status {
        case .serverError(let message) where message.hasPrefix("object too large"):
            // memcached swallows the value and stays in step: only this request failed.
            return .fail(head.waiter, MemcachedError(.itemTooLarge, "memcached refused the value: \(message)"))
        case .serverError(let message) where message.hasPrefix("out of memory"):
            return .fail(head.waiter, MemcachedError(.outOfMemory, "memcached could not store the value: \(message)"))
        case .clientError(let message) where message.hasPrefix("cannot increment or decrement"):
            // The request was well-formed; the item just is not a number. The stream is in step.
            return .fail(head.waiter, MemcachedError(.invalidValue, "the item is not a decimal number: \(message)"))
        case .serverError(let message):
            return closeAll(MemcachedError(.serverError, "memcached answered SERVER_ERROR \(message)"), head: head.waiter)
        case .clientError(let message):
            return closeAll(MemcachedError(.clientError, "memcached answered CLIENT_ERROR \(message)"), head: head.waiter)
        case .error:
            return closeAll(MemcachedError(.clientError, "memcached answered ERROR (unknown command)"), head: head.waiter)
        default:
            guard response.opaque == head.opaque else {
                return closeAll(
                    MemcachedError(.protocolError, "reply carries opaque \(response.opaque.map(String.init) ?? "none"), expected \(head.opaque.map(String.init) ?? "none")"),
                    head: head.waiter
                )
            }
            return .succeed(head.waiter, response)
        }
    }

    // MARK: Timeouts

    enum TimeoutAction {
        /// Nothing is pending: no timer needed.
        case none
        /// Check again at this deadline (the head's).
        case rearm(NIODeadline)
        /// The head waited past its deadline: the node is hung or too slow; reset the connection.
        case close([Waiter], MemcachedError)
    }

    /// Called when the connection's single timer fires. Only the head can be the first to expire,
    /// so one timer per connection suffices however many requests are in flight.
    mutating func checkTimeouts(now: NIODeadline, timeout: TimeAmount) -> TimeoutAction {
        guard let head = pending.first else { return .none }
        guard head.deadline <= now else { return .rearm(head.deadline) }
        let error = MemcachedError(.timeout, "no reply within \(timeout.nanoseconds / 1_000_000) ms")
        guard case .close(let waiters, _, _) = closeAll(error) else { return .none }
        return .close(waiters, error)
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
    mutating func close(_ error: MemcachedError) -> [Waiter] {
        switch state {
        case .closed: return []
        case .draining: state = .closed(MemcachedError(.clientShutdown, "the connection was shut down"))
        case .active: state = .closed(error)
        }
        let waiters = pending.map(\.waiter)
        pending.removeAll()
        return waiters
    }

    private mutating func closeAll(_ error: MemcachedError, head: Waiter? = nil) -> ReceiveAction {
        let others = close(error)
        let followers = MemcachedError(.connectionClosed, "connection reset after an earlier failure: \(error.message)")
        return .close(others, head == nil ? error : followers, head: head.map { ($0, error) })
    }
}
