import NIOCore

/// Carries commands onto one Redis connection and replies back to their callers.
///
/// It only translates: commands to bytes (through `RESPEncoder`) and replies to waiters; every
/// decision is the ``RedisConnectionStateMachine``'s. Writes are coalesced: all commands
/// enqueued in one event-loop tick go out in a single buffer and a single flush.
final class RedisChannelHandler: ChannelInboundHandler {
    typealias InboundIn = RESPValue
    typealias OutboundOut = ByteBuffer
    typealias Waiter = CheckedContinuation<Result<RESPValue, RedisError>, Never>

    private var stateMachine = RedisConnectionStateMachine<Waiter>()
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

    // MARK: Commands (called on the event loop by RedisConnection)

    func send(_ command: RESPCommand, waiter: Waiter) {
        guard let context else {
            let error = stateMachine.closedError ?? RedisError(.connectionClosed, "the connection is closed")
            waiter.resume(returning: .failure(tagged(error)))
            return
        }
        switch stateMachine.enqueue(waiter, deadline: .now() + operationTimeout) {
        case .write:
            RESPEncoder.encodeCommand(command, into: &outbound)
            scheduleFlush(context)
            armTimerIfNeeded(context)
        case .fail(let waiter, let error):
            waiter.resume(returning: .failure(tagged(error)))
        }
    }

    /// Stops taking commands and closes once every pending reply has arrived.
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
        closeStateMachine(RedisError(.connectionClosed, "the connection was closed"))
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch stateMachine.receive(unwrapInboundIn(data)) {
        case .none:
            break
        case .succeed(let waiter, let value):
            waiter.resume(returning: .success(value))
        case .succeedAndClose(let waiter, let value):
            waiter.resume(returning: .success(value))
            context.close(promise: nil)
        case .close(let waiters, let error):
            fail(waiters, error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closeStateMachine(RedisError(.connectionClosed, "Redis closed the connection"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure: RedisError
        if let decodingError = error as? RESPDecodingError {
            failure = RedisError(.protocolError, "malformed reply: \(decodingError)")
        } else {
            failure = RedisError(.connectionClosed, "connection error: \(error)")
        }
        closeStateMachine(failure)
        context.close(promise: nil)
    }

    private func closeStateMachine(_ error: RedisError) {
        timer?.cancel()
        timer = nil
        fail(stateMachine.close(error), error)
    }

    private func fail(_ waiters: [Waiter], _ error: RedisError) {
        let error = tagged(error)
        for waiter in waiters { waiter.resume(returning: .failure(error)) }
    }

    private func tagged(_ error: RedisError) -> RedisError {
        var error = error
        error.node = nodeDescription
        return error
    }
}
