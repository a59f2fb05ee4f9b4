import NIOCore

/// Carries requests onto one memcached connection and replies back to their callers.
///
/// It only translates: requests to bytes (through ``MemcachedRequestEncoder``) and replies to
/// waiters; every decision is the ``MemcachedConnectionStateMachine``'s. Writes are coalesced:
/// all requests enqueued in one event-loop tick go out in a single buffer and a single flush.
final class MemcachedChannelHandler: ChannelInboundHandler {
    typealias InboundIn = MemcachedResponse
    typealias OutboundOut = ByteBuffer
    typealias Waiter = CheckedContinuation<Result<MemcachedResponse, MemcachedError>, Never>

    private var stateMachine = MemcachedConnectionStateMachine<Waiter>()
    private var context: ChannelHandlerContext?
    private var outbound = ByteBuffer()
    private var flushScheduled = false
    private var timer: Scheduled<Void>?
    private let operationTimeout: TimeAmount
    private let nodeDescription: String

    init(operationTimeout: TimeAmount, nodeDescription: String) {
        self.operationTimeout = operationTimeout
        self.nodeDescription = nodeDescription
    }

    // MARK: Requests (called on the event loop by MemcachedConnection)

    func send(_ request: MemcachedRequest, waiter: Waiter) {
        guard let context else {
            let error = stateMachine.closedError ?? MemcachedError(.connectionClosed, "the connection is closed")
            waiter.resume(returning: .failure(tagged(error)))
            return
        }
        let deadline = NIODeadline.now() + operationTimeout
        switch stateMachine.enqueue(waiter, usesOpaque: request.usesOpaque, deadline: deadline) {
        case .write(let opaque):
            MemcachedRequestEncoder.encode(request, opaque: opaque, into: &outbound)
            scheduleFlush(context)
            armTimerIfNeeded(context)
        case .fail(let waiter, let error):
            waiter.resume(returning: .failure(tagged(error)))
        }
    }

    /// Stops taking requests and closes once every pending reply has arrived.
    func drain() {
        guard let context else { return }
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
            fail(waiters, error)
            context?.close(promise: nil)
        }
    }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        outbound = context.channel.allocator.buffer(capacity: 4096)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        closeStateMachine(MemcachedError(.connectionClosed, "the connection was closed"))
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch stateMachine.receive(unwrapInboundIn(data)) {
        case .succeed(let waiter, let response):
            waiter.resume(returning: .success(response))
        case .fail(let waiter, let error):
            waiter.resume(returning: .failure(tagged(error)))
        case .close(let waiters, let error, let head):
            if let (waiter, headError) = head { waiter.resume(returning: .failure(tagged(headError))) }
            fail(waiters, error)
            context.close(promise: nil)
        case .succeedAndClose(let waiter, let response):
            waiter.resume(returning: .success(response))
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeStateMachine(MemcachedError(.connectionClosed, "memcached closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: MemcachedError
        if let decodingError = error as? MemcachedDecodingError {
            failure = MemcachedError(.protocolError, "malformed reply: \(decodingError)")
        } else {
            failure = MemcachedError(.connectionClosed, "connection error: \(error)")
        }
        closeStateMachine(failure)
        context.close(promise: nil)
    }

    private func closeStateMachine(_ error: MemcachedError) {
        timer?.cancel()
        timer = nil
        fail(stateMachine.close(error), error)
    }

    private func fail(_ waiters: [Waiter], _ error: MemcachedError) {
        let error = tagged(error)
        for waiter in waiters { waiter.resume(returning: .failure(error)) }
    }

    private func tagged(_ error: MemcachedError) -> MemcachedError {
        var error = error
        error.node = nodeDescription
        return error
    }
}
