import NIOCore
import Synchronization

/// Carries requests onto one pipelined connection and replies back to their callers.
///
/// It only translates: requests to bytes (through the protocol's encoder) and replies to
/// waiters; every decision is the ``PipelineStateMachine``'s. Writes are coalesced: all requests
/// enqueued in one event-loop tick go out in a single buffer and a single flush.
package final class PipelinedChannelHandler<Protocol: PipelineProtocol>: ChannelInboundHandler {
    package typealias InboundIn = Protocol.Reply
    package typealias OutboundOut = ByteBuffer
    package typealias Waiter = CheckedContinuation<Result<Protocol.Reply, Protocol.Failure>, Never>

    private var stateMachine = PipelineStateMachine<Protocol, Waiter>()
    private var context: ChannelHandlerContext?
    private var outbound = ByteBuffer()
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    private let operationTimeout: TimeAmount
    private let nodeDescription: String
    private let usability: ConnectionUsability

    package init(operationTimeout: TimeAmount, nodeDescription: String, usability: ConnectionUsability) {
        self.operationTimeout = operationTimeout
        self.nodeDescription = nodeDescription
        self.usability = usability
    }

    // MARK: Requests (called on the event loop by PipelinedChannel)

    package func send(_ request: Protocol.Request, waiter: Waiter) {
        guard let context else {
            let error = stateMachine.closedError ?? .pipeline(.connectionClosed, "the connection is closed")
            waiter.resume(returning: .failure(tagged(error)))
            return
        }
        switch stateMachine.enqueue(waiter, request: request, deadline: .now() + operationTimeout) {
        case .write(let sequence):
            Protocol.encode(request, sequence: sequence, into: &outbound)
            scheduleFlush(context)
            armTimerIfNeeded(context)
        case .fail(let waiter, let error):
            waiter.resume(returning: .failure(tagged(error)))
        }
    }

    /// Stops taking requests and closes once every pending reply has arrived.
    package func drain() {
        guard let context else { return }
        usability.retire()
        if stateMachine.drain() { context.close(promise: nil) }
    }

    private func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        // Runs after the tasks already queued on this loop, so a burst of callers shares one write.
        context.eventLoop.assumeIsolated().execute { self.flushOutbound() }
    }

    private func flushOutbound() {
        flushScheduled = false
        guard let context, outbound.readableBytes > 0 else { return }
        context.writeAndFlush(wrapOutboundOut(outbound), promise: nil)
        // Once written the channel drops its reference, so clearing reuses the same storage.
        outbound.clear()
    }

    // MARK: Timeouts

    private func armTimerIfNeeded(_ context: ChannelHandlerContext) {
        guard timer == nil, let deadline = stateMachine.earliestDeadline else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired() }
    }

    private func timerFired() {
        timer = nil
        switch stateMachine.checkTimeouts(now: .now(), timeout: operationTimeout) {
        case .none:
            break
        case .rearm:
            if let context { armTimerIfNeeded(context) }
        case .close(let waiters, let error):
            retireAndClose(context)  // before callers resume: none may send onto this connection
            fail(waiters, error)
        }
    }

    // MARK: Channel events

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        outbound = context.channel.allocator.buffer(capacity: 4096)
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        closeStateMachine(.pipeline(.connectionClosed, "the connection was closed"))
        self.context = nil
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch stateMachine.receive(unwrapInboundIn(data)) {
        case .none:
            break
        case .succeed(let waiter, let reply):
            waiter.resume(returning: .success(reply))
        case .fail(let waiter, let error):
            waiter.resume(returning: .failure(tagged(error)))
        case .close(let waiters, let error, let head):
            // Closed before any caller resumes, so none sends its next request onto this connection.
            retireAndClose(context)
            if let (waiter, headError) = head { waiter.resume(returning: .failure(tagged(headError))) }
            fail(waiters, error)
        case .succeedAndClose(let waiter, let reply):
            retireAndClose(context)
            waiter.resume(returning: .success(reply))
        }
    }

    package func channelInactive(context: ChannelHandlerContext) {
        closeStateMachine(.pipeline(.connectionClosed, "\(Protocol.peerName) closed the connection"))
        context.fireChannelInactive()
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = Protocol.channelFailure(error)
        let waiters = takeWaiters(failure)
        retireAndClose(context)
        fail(waiters, failure)
    }

    private func closeStateMachine(_ error: Protocol.Failure) {
        usability.retire()
        fail(takeWaiters(error), error)
    }

    private func takeWaiters(_ error: Protocol.Failure) -> [Waiter] {
        timer?.cancel()
        timer = nil
        return stateMachine.close(error)
    }

    /// Marks the connection unusable at once (a TLS close may keep the channel active for seconds
    /// while it waits for the peer), then closes the channel.
    private func retireAndClose(_ context: ChannelHandlerContext?) {
        usability.retire()
        context?.close(promise: nil)
    }

    private func fail(_ waiters: [Waiter], _ error: Protocol.Failure) {
        let error = tagged(error)
        for waiter in waiters { waiter.resume(returning: .failure(error)) }
    }

    private func tagged(_ error: Protocol.Failure) -> Protocol.Failure {
        var error = error
        error.node = nodeDescription
        return error
    }
}

/// Whether a connection may still take requests, readable from any thread: the slot asks before
/// handing the connection out, and the handler clears it the moment it decides to close.
package final class ConnectionUsability: Sendable {
    private let usable = Atomic<Bool>(true)

    package init() {}

    package var isUsable: Bool { usable.load(ordering: .acquiring) }

    package func retire() { usable.store(false, ordering: .releasing) }
}
