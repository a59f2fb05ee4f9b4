import NIOCore
import Synchronization

/// A client's channel handler: a small non-generic class in the client's module that owns a
/// ``PipelinedChannelHandlerCore`` and conforms to this protocol, which supplies every
/// `ChannelInboundHandler` method.
///
/// Why not one generic handler class here: NIO calls a handler through its protocol witnesses,
/// and a generic class's witnesses run unspecialized code that looks up generic metadata on every
/// call (a fifth of the client's CPU time per request in the benchmarks). A conformance declared
/// on a concrete class in the client's module lets the compiler specialize the whole path, which
/// is also why everything below is `@inlinable`. The handler decodes replies itself (no
/// `ByteToMessageHandler` in front), so replies never travel boxed in `NIOAny`.
@usableFromInline
package protocol PipelinedChannelHandler: ChannelInboundHandler, SendableMetatype
where InboundIn == ByteBuffer, OutboundOut == ByteBuffer {
    associatedtype Pipeline: PipelineProtocol
    associatedtype Decoder: NIOSingleStepByteToMessageDecoder, SendableMetatype where Decoder.InboundOut == Pipeline.Reply

    /// The state and logic.
    var core: PipelinedChannelHandlerCore<Pipeline, Decoder> { get }

    init(core: PipelinedChannelHandlerCore<Pipeline, Decoder>)
}

extension PipelinedChannelHandler {
    @inlinable
    package func handlerAdded(context: ChannelHandlerContext) {
        core.handlerAdded(context: context)
    }

    @inlinable
    package func handlerRemoved(context: ChannelHandlerContext) {
        core.handlerRemoved(context: context)
    }

    @inlinable
    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        core.channelRead(context: context, bytes: Self.unwrapInboundIn(data))
    }

    @inlinable
    package func channelInactive(context: ChannelHandlerContext) {
        core.channelInactive(context: context)
    }

    @inlinable
    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        core.errorCaught(context: context, error: error)
    }
}

/// Carries requests onto one pipelined connection and replies back to their callers.
///
/// It only translates: requests to bytes (through the protocol's encoder), bytes to replies
/// (through the decoder) and replies to waiters; every decision is the ``PipelineStateMachine``'s.
/// Writes are coalesced: all requests enqueued in one event-loop tick go out in a single buffer
/// and a single flush. Used on the channel's event loop only.
@usableFromInline
package final class PipelinedChannelHandlerCore<Protocol: PipelineProtocol, Decoder: NIOSingleStepByteToMessageDecoder>
where Decoder.InboundOut == Protocol.Reply {
    @usableFromInline package typealias Waiter = PipelineWaiter<Protocol.Reply, Protocol.Failure>

    @usableFromInline var stateMachine = PipelineStateMachine<Protocol, Waiter>()
    @usableFromInline var context: ChannelHandlerContext?
    @usableFromInline var outbound = ByteBuffer()
    @usableFromInline var flushScheduled = false
    @usableFromInline var timer: Scheduled<Void>?
    @usableFromInline let processor: NIOSingleStepByteToMessageProcessor<Decoder>
    @usableFromInline let operationTimeout: TimeAmount
    @usableFromInline let nodeDescription: String
    @usableFromInline let usability: ConnectionUsability

    @inlinable
    package init(operationTimeout: TimeAmount, nodeDescription: String, decoder: Decoder, usability: ConnectionUsability) {
        self.operationTimeout = operationTimeout
        self.nodeDescription = nodeDescription
        self.processor = NIOSingleStepByteToMessageProcessor(decoder)
        self.usability = usability
    }

    // MARK: Requests (called on the event loop by PipelinedChannel)

    @inlinable
    package func send(_ request: Protocol.Request, waiter: Waiter) {
        guard let context else {
            let error = stateMachine.closedError ?? .pipeline(.connectionClosed, "the connection is closed")
            waiter.resume(.failure(tagged(error)))
            return
        }
        switch stateMachine.enqueue(waiter, request: request, deadline: .now() + operationTimeout) {
        case .write(let sequence):
            Protocol.encode(request, sequence: sequence, into: &outbound)
            scheduleFlush(context)
            armTimerIfNeeded(context)
        case .fail(let waiter, let error):
            waiter.resume(.failure(tagged(error)))
        }
    }

    /// Stops taking requests and closes once every pending reply has arrived.
    @inlinable
    package func drain() {
        guard let context else { return }
        usability.retire()
        if stateMachine.drain() { context.close(promise: nil) }
    }

    @inlinable
    func scheduleFlush(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        // Runs after the tasks already queued on this loop, so a burst of callers shares one write.
        context.eventLoop.assumeIsolated().execute { self.flushOutbound() }
    }

    @inlinable
    func flushOutbound() {
        flushScheduled = false
        guard let context, outbound.readableBytes > 0 else { return }
        context.writeAndFlush(NIOAny(outbound), promise: nil)
        // Once written the channel drops its reference, so clearing reuses the same storage.
        outbound.clear()
    }

    // MARK: Timeouts

    @inlinable
    func armTimerIfNeeded(_ context: ChannelHandlerContext) {
        guard timer == nil, let deadline = stateMachine.earliestDeadline else { return }
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired() }
    }

    @inlinable
    func timerFired() {
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

    @inlinable
    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        outbound = context.channel.allocator.buffer(capacity: 4096)
    }

    @inlinable
    package func handlerRemoved(context: ChannelHandlerContext) {
        closeStateMachine(.pipeline(.connectionClosed, "the connection was closed"))
        self.context = nil
    }

    @inlinable
    package func channelRead(context: ChannelHandlerContext, bytes: ByteBuffer) {
        do {
            try processor.process(buffer: bytes) { reply in receive(reply, context: context) }
        } catch {
            errorCaught(context: context, error: error)
        }
    }

    @inlinable
    package func channelInactive(context: ChannelHandlerContext) {
        // Replies that arrived complete just before the close still reach their callers.
        do {
            try processor.finishProcessing(seenEOF: true) { reply in receive(reply, context: context) }
        } catch {
            closeStateMachine(Protocol.channelFailure(error))
        }
        closeStateMachine(.pipeline(.connectionClosed, "\(Protocol.peerName) closed the connection"))
        context.fireChannelInactive()
    }

    @inlinable
    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = Protocol.channelFailure(error)
        let waiters = takeWaiters(failure)
        retireAndClose(context)
        fail(waiters, failure)
    }

    @inlinable
    func receive(_ reply: Protocol.Reply, context: ChannelHandlerContext) {
        switch stateMachine.receive(reply) {
        case .none:
            break
        case .succeed(let waiter, let reply):
            waiter.resume(.success(reply))
        case .fail(let waiter, let error):
            waiter.resume(.failure(tagged(error)))
        case .close(let waiters, let error, let head):
            // Closed before any caller resumes, so none sends its next request onto this connection.
            retireAndClose(context)
            if let (waiter, headError) = head { waiter.resume(.failure(tagged(headError))) }
            fail(waiters, error)
        case .succeedAndClose(let waiter, let reply):
            retireAndClose(context)
            waiter.resume(.success(reply))
        }
    }

    @inlinable
    func closeStateMachine(_ error: Protocol.Failure) {
        usability.retire()
        fail(takeWaiters(error), error)
    }

    @inlinable
    func takeWaiters(_ error: Protocol.Failure) -> [Waiter] {
        timer?.cancel()
        timer = nil
        return stateMachine.close(error)
    }

    /// Marks the connection unusable at once (a TLS close may keep the channel active for seconds
    /// while it waits for the peer), then closes the channel.
    @inlinable
    func retireAndClose(_ context: ChannelHandlerContext?) {
        usability.retire()
        context?.close(promise: nil)
    }

    @inlinable
    func fail(_ waiters: [Waiter], _ error: Protocol.Failure) {
        let error = tagged(error)
        for waiter in waiters { waiter.resume(.failure(error)) }
    }

    @inlinable
    func tagged(_ error: Protocol.Failure) -> Protocol.Failure {
        var error = error
        error.node = nodeDescription
        return error
    }
}

/// Whether a connection may still take requests, readable from any thread: the slot asks before
/// handing the connection out, and the handler clears it the moment it decides to close.
@usableFromInline
package final class ConnectionUsability: Sendable {
    @usableFromInline let usable = Atomic<Bool>(true)

    @inlinable
    package init() {}

    @inlinable
    package var isUsable: Bool { usable.load(ordering: .acquiring) }

    @inlinable
    package func retire() { usable.store(false, ordering: .releasing) }
}

/// Who waits for a reply: one caller, or one request of a caller's batch.
@usableFromInline
package enum PipelineWaiter<Reply: Sendable, Failure: Error> {
    /// A caller awaiting this reply alone.
    case single(CheckedContinuation<Result<Reply, Failure>, Never>)
    /// The request at this position of a batch whose caller awaits every reply at once.
    case batch(PipelineBatch<Reply, Failure>, Int)

    @inlinable
    func resume(_ result: Result<Reply, Failure>) {
        switch self {
        case .single(let continuation): continuation.resume(returning: result)
        case .batch(let batch, let index): batch.complete(index, with: result)
        }
    }
}

/// The replies of one batch, gathered on the connection's event loop: its caller is resumed
/// once, when the last one is in, so a batch costs one hop and one continuation however long it is.
@usableFromInline
package final class PipelineBatch<Reply: Sendable, Failure: Error> {
    @usableFromInline var results: [Result<Reply, Failure>?]
    @usableFromInline var remaining: Int
    @usableFromInline let continuation: CheckedContinuation<[Result<Reply, Failure>], Never>
    @usableFromInline let missing: Failure

    /// - Parameter missing: what a position reports if it somehow got no reply (never expected:
    ///   every waiter is resumed exactly once), so the caller is never left without an answer.
    @inlinable
    package init(count: Int, missing: Failure, continuation: CheckedContinuation<[Result<Reply, Failure>], Never>) {
        self.results = Array(repeating: nil, count: count)
        self.remaining = count
        self.missing = missing
        self.continuation = continuation
    }

    @inlinable
    func complete(_ index: Int, with result: Result<Reply, Failure>) {
        results[index] = result
        remaining -= 1
        if remaining == 0 {
            continuation.resume(returning: results.map { $0 ?? .failure(missing) })
        }
    }
}
