import NIOCore
import NIOPosix
import PipelinedConnections

/// One TCP connection to one memcached node, carrying many pipelined requests at once.
final class MemcachedConnection: PipelinedConnection {
    let channel: any Channel
    private let handler: NIOLoopBound<MemcachedChannelHandler>

    private init(channel: any Channel, handler: NIOLoopBound<MemcachedChannelHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// Opens a connection, failing with ``MemcachedError/Code/connectFailed`` within `connectTimeout`.
    static func connect(
        to node: MemcachedNode,
        configuration: MemcachedClientConfiguration,
        eventLoop: any EventLoop
    ) async throws(MemcachedError) -> MemcachedConnection {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
        let operationTimeout = TimeAmount(configuration.operationTimeout)
        let maximumValueLength = configuration.maximumValueLength
        let nodeDescription = node.description
        do {
            let (channel, handler) = try await bootstrap.connect(host: node.host, port: node.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = MemcachedChannelHandler(operationTimeout: operationTimeout, nodeDescription: nodeDescription)
                    let decoder = MemcachedResponseDecoder(maximumValueLength: maximumValueLength)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
            return MemcachedConnection(channel: channel, handler: handler)
        } catch {
            throw MemcachedError(.connectFailed, "cannot connect: \(error)", node: nodeDescription)
        }
    }

    var isActive: Bool { channel.isActive }

    var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends `request` and waits for its reply; never longer than the operation timeout.
    func execute(_ request: MemcachedRequest) async -> Result<MemcachedResponse, MemcachedError> {
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
    func drain() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.drain() }
        try? await channel.closeFuture.get()
    }

    /// Closes now, failing whatever is pending.
    func close() async {
        try? await channel.close()
    }
}
