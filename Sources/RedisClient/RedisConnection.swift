import NIOCore
import NIOPosix
import PipelinedConnections

/// One TCP connection to one Redis node, carrying many pipelined commands at once.
///
/// It is handed out only after the handshake the node's URL asks for (`AUTH`, `SELECT`), so every
/// command on it runs as the configured user in the configured database.
final class RedisConnection: PipelinedConnection {
    let channel: any Channel
    private let handler: NIOLoopBound<RedisChannelHandler>

    private init(channel: any Channel, handler: NIOLoopBound<RedisChannelHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// Opens and prepares a connection, within `connectTimeout` for the TCP connect and the
    /// operation timeout for each handshake step.
    static func connect(
        to node: RedisNode,
        configuration: RedisClientConfiguration,
        eventLoop: any EventLoop
    ) async throws(RedisError) -> RedisConnection {
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelOption(.socketOption(.so_keepalive), value: 1)
        let operationTimeout = TimeAmount(configuration.operationTimeout)
        let maximumValueLength = configuration.maximumValueLength
        let nodeDescription = node.description
        let connection: RedisConnection
        do {
            let (channel, handler) = try await bootstrap.connect(host: node.host, port: node.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = RedisChannelHandler(operationTimeout: operationTimeout, nodeDescription: nodeDescription)
                    let decoder = RESPDecoder(maximumBulkLength: maximumValueLength)
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(decoder))
                    try channel.pipeline.syncOperations.addHandler(handler)
                    return (channel, NIOLoopBound(handler, eventLoop: channel.eventLoop))
                }
            }
            connection = RedisConnection(channel: channel, handler: handler)
        } catch {
            throw RedisError(.connectFailed, "cannot connect: \(error)", node: nodeDescription)
        }
        do {
            try await connection.handshake(for: node)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    /// `AUTH` and `SELECT`, pipelined; any refusal fails the connect with Redis' reason.
    private func handshake(for node: RedisNode) async throws(RedisError) {
        var steps: [(RESPCommand, String)] = []
        if let password = node.password {
            let user = node.username.map { "user \"\($0)\"" } ?? "the default user"
            steps.append((.auth(username: node.username, password: password.value), "authenticating as \(user)"))
        }
        if node.database != 0 {
            let select: RESPCommand
            do {
                select = try .select(database: node.database)
            } catch {
                throw RedisError(.invalidArgument, error.description, node: node.description)
            }
            steps.append((select, "selecting database \(node.database)"))
        }
        guard !steps.isEmpty else { return }
        let replies = await withTaskGroup(of: (Int, Result<RESPValue, RedisError>).self) { group in
            for (index, step) in steps.enumerated() {
                group.addTask { (index, await self.execute(step.0)) }
            }
            var replies = [Result<RESPValue, RedisError>?](repeating: nil, count: steps.count)
            for await (index, reply) in group { replies[index] = reply }
            return replies
        }
        for (reply, step) in zip(replies, steps) {
            switch reply {
            case .success(.simpleString("OK")), .none:
                continue
            case .success(.error(let refusal)):
                var error = RedisError(reply: refusal, node: node.description)
                error.message = "\(step.1) failed: \(error.message)"
                throw error
            case .success(let other):
                throw RedisError(.protocolError, "\(step.1): unexpected reply \(other)", node: node.description)
            case .failure(let error):
                throw error
            }
        }
    }

    var isActive: Bool { channel.isActive }

    var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends `command` and waits for its reply (an error reply is a value here); never longer
    /// than the operation timeout.
    func execute(_ command: RESPCommand) async -> Result<RESPValue, RedisError> {
        let eventLoop = channel.eventLoop
        let handler = self.handler
        return await withCheckedContinuation { continuation in
            if eventLoop.inEventLoop {
                handler.value.send(command, waiter: continuation)
            } else {
                eventLoop.execute { handler.value.send(command, waiter: continuation) }
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
