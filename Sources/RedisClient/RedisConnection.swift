import NIOCore
import NIOSSL
import PipelinedConnections
import PipelinedTLS

/// RESP as the shared pipeline machinery sees it: Redis answers a connection's commands in
/// order and RESP carries no request id, so pairing is by position alone. Error replies
/// (`-ERR`...) are ordinary replies that leave the stream in step, except protocol errors, after
/// which Redis closes the connection; out-of-band push frames (RESP3 `>`) answer no command and
/// are skipped.
enum RedisPipeline: PipelineProtocol {
    typealias Request = RESPCommand
    typealias Reply = RESPValue
    typealias Failure = RedisError
    typealias Expectation = Void

    static let peerName = "Redis"

    static func expectation(for command: RESPCommand, sequence: UInt32) {}

    static func encode(_ command: RESPCommand, sequence: UInt32, into buffer: inout ByteBuffer) {
        RESPEncoder.encodeCommand(command, into: &buffer)
    }

    static func isOutOfBand(_ reply: RESPValue) -> Bool {
        if case .push = reply { return true }
        return false
    }

    static func disposition(of reply: RESPValue, expected: Void) -> PipelineReplyDisposition<RedisError> {
        // `ERR Protocol error: ...` (e.g. a value over proto-max-bulk-len): Redis drops the
        // connection after this reply, so close it now rather than send more commands onto it.
        if case .error(let refusal) = reply, refusal.code == "ERR", refusal.message.hasPrefix("Protocol error:") {
            return .failConnection(RedisError(reply: refusal, node: nil))
        }
        return .deliver
    }

    static func channelFailure(_ error: any Error) -> RedisError {
        if let decodingError = error as? RESPDecodingError {
            return RedisError(.protocolError, "malformed reply: \(decodingError)")
        }
        return RedisError(.connectionClosed, "connection error: \(error)")
    }
}

/// The channel handler of a Redis connection: all its logic is the shared
/// ``PipelinedChannelHandlerCore``, specialized here for RESP.
final class RedisChannelHandler: PipelinedChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let core: PipelinedChannelHandlerCore<RedisPipeline, RESPDecoder>

    init(core: PipelinedChannelHandlerCore<RedisPipeline, RESPDecoder>) {
        self.core = core
    }
}

/// One TCP connection to one Redis node, carrying many pipelined commands at once.
typealias RedisConnection = PipelinedChannel<RedisChannelHandler>

/// The state machine of one Redis connection (named for the unit tests that drive it).
typealias RedisConnectionStateMachine<Waiter> = PipelineStateMachine<RedisPipeline, Waiter>

extension PipelinedChannel where Handler == RedisChannelHandler {
    /// Opens a connection (encrypted with `tls` for `rediss://` nodes) and runs the handshake the
    /// node's URL asks for (`AUTH`, `SELECT`), so every command on it runs as the configured user
    /// in the configured database. A TLS handshake failure surfaces here, as a connect failure.
    static func connect(
        to node: RedisServer,
        configuration: RedisClientConfiguration,
        tls: NIOSSLContext?,
        eventLoop: any EventLoop
    ) async throws(RedisError) -> RedisConnection {
        let configureTransport = tls.map { TLSTransport.configure($0, host: node.host) }
        let connection = try await connect(
            host: node.host,
            port: node.port,
            nodeDescription: node.description,
            eventLoop: eventLoop,
            connectTimeout: configuration.connectTimeout,
            operationTimeout: configuration.operationTimeout,
            decoder: RESPDecoder(maximumBulkLength: configuration.maximumValueLength),
            configureTransport: configureTransport
        )
        do {
            try await connection.handshake(for: node)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    /// `AUTH` and `SELECT`, or a `PING` when neither is needed; any refusal fails the connect with
    /// Redis' reason (the password scrubbed from it), any other failure is a connect failure.
    private func handshake(for node: RedisServer) async throws(RedisError) {
        var steps: [(command: RESPCommand, purpose: String)] = []
        if let password = node.password {
            let user = node.username.map { "user \"\($0)\"" } ?? "the default user"
            steps.append((.auth(username: node.username, password: password.reveal()), "authenticating as \(user)"))
        }
        if node.database != 0 {
            do {
                steps.append((try .select(database: node.database), "selecting database \(node.database)"))
            } catch {
                throw RedisError(.invalidArgument, error.description, node: node.description)
            }
        }
        // Without AUTH or SELECT, a PING proves the server serves us (one that accepts and then
        // drops us, at maxclients say, must count as a failed connect and back off) and, with TLS,
        // that the handshake succeeded.
        if steps.isEmpty { steps.append((.ping(), node.usesTLS ? "checking the TLS connection" : "checking the connection")) }
        // In order, one at a time: SELECT must not reach the server before AUTH. Connects are rare.
        for step in steps {
            let reply = await execute(step.command)
            switch reply {
            case .success(.simpleString("OK")), .success(.simpleString("PONG")):
                continue
            case .success(.error(let refusal)):
                var error = RedisError(reply: refusal, node: node.description)
                // Redis may quote arguments back ("unknown command 'AUTH', with args beginning with: ...").
                let message = node.password.map { error.message.replacingAll($0.reveal(), with: "***") } ?? error.message
                error.message = "\(step.purpose) failed: \(message)"
                throw error
            case .success(let other):
                throw RedisError(.protocolError, "\(step.purpose): unexpected reply \(other)", node: node.description)
            case .failure(let error):
                throw RedisError(.connectFailed, "\(step.purpose) failed: \(error.message)", node: node.description)
            }
        }
    }
}

extension String {
    /// Every occurrence of `secret` replaced; unchanged when `secret` is empty.
    fileprivate func replacingAll(_ secret: String, with replacement: String) -> String {
        guard !secret.isEmpty else { return self }
        return split(separator: secret, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
