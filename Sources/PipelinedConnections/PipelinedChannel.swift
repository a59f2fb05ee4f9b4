import NIOCore
import NIOPosix

/// One TCP connection to one node, carrying many pipelined requests at once, through the
/// client's `Handler` (see ``PipelinedChannelHandler`` for why that is the client's own type).
@usableFromInline
package final class PipelinedChannel<Handler: PipelinedChannelHandler>: PipelinedConnection {
    @usableFromInline package typealias Pipeline = Handler.Pipeline
    @usableFromInline package let channel: any Channel
    @usableFromInline let handler: NIOLoopBound<PipelinedChannelHandlerCore<Pipeline, Handler.Decoder>>
    @usableFromInline let usability: ConnectionUsability

    private init(channel: any Channel, handler: NIOLoopBound<PipelinedChannelHandlerCore<Pipeline, Handler.Decoder>>, usability: ConnectionUsability)
    {
        self.channel = channel
        self.handler = handler
        self.usability = usability
    }

    /// Opens a connection whose handler decodes replies with `decoder`, failing with the protocol's
    /// `connectFailed` error within `connectTimeout`. `configureTransport` adds handlers that sit
    /// below the protocol (TLS) before the client's handler.
    package static func connect(
        host: String,
        port: Int,
        nodeDescription: String,
        eventLoop: any EventLoop,
        connectTimeout: Duration,
        operationTimeout: Duration,
        decoder: Handler.Decoder,
        configureTransport: (@Sendable (any Channel) throws -> Void)? = nil
    ) async throws(Pipeline.Failure) -> PipelinedChannel where Handler.Decoder: Sendable {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
        let operationTimeout = TimeAmount(operationTimeout)
        let usability = ConnectionUsability()
        do {
            let (channel, handler) = try await bootstrap.connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try configureTransport?(channel)
                    let core = PipelinedChannelHandlerCore<Pipeline, Handler.Decoder>(
                        operationTimeout: operationTimeout, nodeDescription: nodeDescription, decoder: decoder, usability: usability
                    )
                    try channel.pipeline.syncOperations.addHandler(Handler(core: core))
                    return (channel, NIOLoopBound(core, eventLoop: channel.eventLoop))
                }
            }
            return PipelinedChannel(channel: channel, handler: handler, usability: usability)
        } catch {
            throw Pipeline.Failure.connectFailed(error, node: nodeDescription)
        }
    }

    /// Open and not closing: a connection whose handler decided to close is never handed out again,
    /// even while its channel is still shutting down.
    @inlinable
    package var isActive: Bool { usability.isUsable && channel.isActive }

    @usableFromInline package var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends `request` and waits for its reply; never longer than the operation timeout.
    @inlinable
    package func execute(_ request: Pipeline.Request) async -> Result<Pipeline.Reply, Pipeline.Failure> {
        let eventLoop = channel.eventLoop
        let handler = self.handler
        return await withCheckedContinuation { continuation in
            if eventLoop.inEventLoop {
                handler.value.send(request, waiter: .single(continuation))
            } else {
                eventLoop.execute { handler.value.send(request, waiter: .single(continuation)) }
            }
        }
    }

    /// Sends every request in one hop onto the event loop and waits for all their replies, which
    /// come back in request order; each is bounded by the operation timeout.
    @inlinable
    package func execute(batch requests: [Pipeline.Request]) async -> [Result<Pipeline.Reply, Pipeline.Failure>] {
        guard !requests.isEmpty else { return [] }
        let eventLoop = channel.eventLoop
        let handler = self.handler
        return await withCheckedContinuation { continuation in
            @Sendable func sendAll() {
                let batch = PipelineBatch(
                    count: requests.count,
                    missing: Pipeline.Failure.pipeline(.protocolError, "no reply was recorded for this request"),
                    continuation: continuation
                )
                for (index, request) in requests.enumerated() {
                    handler.value.send(request, waiter: .batch(batch, index))
                }
            }
            if eventLoop.inEventLoop { sendAll() } else { eventLoop.execute(sendAll) }
        }
    }

    /// Closes once every pending reply has arrived.
    @usableFromInline package func drain() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.drain() }
        try? await channel.closeFuture.get()
    }

    /// Closes now, failing whatever is pending.
    @usableFromInline package func close() async {
        try? await channel.close()
    }
}
