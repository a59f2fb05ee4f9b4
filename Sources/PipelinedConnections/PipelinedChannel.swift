import NIOCore
import NIOPosix

/// One TCP connection to one node, carrying many pipelined requests at once.
package final class PipelinedChannel<Protocol: PipelineProtocol>: PipelinedConnection {
    package let channel: any Channel
    private let handler: NIOLoopBound<PipelinedChannelHandler<Protocol>>
    private let usability: ConnectionUsability

    private init(channel: any Channel, handler: NIOLoopBound<PipelinedChannelHandler<Protocol>>, usability: ConnectionUsability) {
        self.channel = channel
        self.handler = handler
        self.usability = usability
    }

    /// Opens a connection with `decoder` in front of the handler, failing with the protocol's
    /// `connectFailed` error within `connectTimeout`. `configureTransport` adds handlers that sit
    /// below the protocol (TLS) before the decoder is added.
    package static func connect<Decoder: NIOSingleStepByteToMessageDecoder & Sendable>(
        host: String,
        port: Int,
        nodeDescription: String,
        eventLoop: any EventLoop,
        connectTimeout: Duration,
        operationTimeout: Duration,
        decoder: Decoder,
        configureTransport: (@Sendable (any Channel) throws -> Void)? = nil
    ) async throws(Protocol.Failure) -> PipelinedChannel where Decoder.InboundOut == Protocol.Reply {
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
                    let handler = PipelinedChannelHandler<Protocol>(operationTimeout: operationTimeout, nodeDescription: nodeDescription, usability: usability)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
            return PipelinedChannel(channel: channel, handler: handler, usability: usability)
        } catch {
            throw Protocol.Failure.connectFailed(error, node: nodeDescription)
        }
    }

    /// Open and not closing: a connection whose handler decided to close is never handed out again,
    /// even while its channel is still shutting down.
    package var isActive: Bool { usability.isUsable && channel.isActive }

    package var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends `request` and waits for its reply; never longer than the operation timeout.
    package func execute(_ request: Protocol.Request) async -> Result<Protocol.Reply, Protocol.Failure> {
        let eventLoop = channel.eventLoop
        let handler = self.handler
        return await withCheckedContinuation { continuation in
            if eventLoop.inEventLoop {
                handler.value.send(request, waiter: continuation)
            } else {
                eventLoop.execute { handler.value.send(request, waiter: continuation) }
            }
        }
    }

    /// Closes once every pending reply has arrived.
    package func drain() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.drain() }
        try? await channel.closeFuture.get()
    }

    /// Closes now, failing whatever is pending.
    package func close() async {
        try? await channel.close()
    }
}
