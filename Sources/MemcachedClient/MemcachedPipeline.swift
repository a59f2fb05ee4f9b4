import NIOCore
import PipelinedConnections

/// The memcached meta protocol as the shared pipeline machinery sees it: each request carries an
/// opaque token (`O`) its reply must echo, proving the in-order pairing, and a few error replies
/// leave the stream in step so only their own request fails.
enum MemcachedPipeline: PipelineProtocol {
    typealias Request = MemcachedRequest
    typealias Reply = MemcachedResponse
    typealias Failure = MemcachedError
    /// The opaque token the reply must echo; `nil` for `mn`, `version` and the login, which cannot carry one.
    typealias Expectation = UInt32?

    static let peerName = "memcached"

    static func expectation(for request: MemcachedRequest, sequence: UInt32) -> UInt32? {
        request.usesOpaque ? sequence : nil
    }

    static func encode(_ request: MemcachedRequest, sequence: UInt32, into buffer: inout ByteBuffer) {
        MemcachedRequestEncoder.encode(request, opaque: sequence, into: &buffer)
    }

    static func disposition(of response: MemcachedResponse, expected opaque: UInt32?) -> PipelineReplyDisposition<MemcachedError> {
        switch response.status {
        case .serverError(let message) where message.hasPrefix("object too large"):
            // memcached swallows the value and stays in step: only this request failed.
            return .failRequest(MemcachedError(.itemTooLarge, "memcached refused the value: \(message)"))
        case .serverError(let message) where message.hasPrefix("out of memory"):
            return .failRequest(MemcachedError(.outOfMemory, "memcached could not store the value: \(message)"))
        case .clientError(let message) where message.hasPrefix("cannot increment or decrement"):
            // The request was well-formed; the item just is not a number. The stream is in step.
            return .failRequest(MemcachedError(.invalidValue, "the item is not a decimal number: \(message)"))
        case .clientError(let message) where message.hasPrefix("authentication failure"):
            return .failConnection(MemcachedError(.authenticationFailed, "memcached refused the username or password"))
        case .unauthenticated where opaque != nil:
            // A refused data command: memcached now reads its value as a command, out of step.
            // (To `mn`, the handshake's probe, the reply is delivered as the answer it is.)
            return .failConnection(MemcachedError.unauthenticated)
        case .serverError(let message):
            return .failConnection(MemcachedError(.serverError, "memcached answered SERVER_ERROR \(message)"))
        case .clientError(let message):
            return .failConnection(MemcachedError(.clientError, "memcached answered CLIENT_ERROR \(message)"))
        case .error:
            return .failConnection(MemcachedError(.clientError, "memcached answered ERROR (unknown command)"))
        default:
            guard response.opaque == opaque else {
                return .failConnection(
                    MemcachedError(
                        .protocolError,
                        "reply carries opaque \(response.opaque.map(String.init) ?? "none"), expected \(opaque.map(String.init) ?? "none")"
                    ))
            }
            return .deliver
        }
    }

    static func channelFailure(_ error: any Error) -> MemcachedError {
        if let decodingError = error as? MemcachedDecodingError {
            return MemcachedError(.protocolError, "malformed reply: \(decodingError)")
        }
        return MemcachedError(.connectionClosed, "connection error: \(error)")
    }
}

/// The channel handler of a memcached connection: all its logic is the shared
/// ``PipelinedChannelHandlerCore``, specialized here for the meta protocol.
final class MemcachedChannelHandler: PipelinedChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let core: PipelinedChannelHandlerCore<MemcachedPipeline, MemcachedResponseDecoder>

    init(core: PipelinedChannelHandlerCore<MemcachedPipeline, MemcachedResponseDecoder>) {
        self.core = core
    }
}

/// One TCP connection to one memcached node, carrying many pipelined requests at once.
typealias MemcachedConnection = PipelinedChannel<MemcachedChannelHandler>

/// The state machine of one memcached connection (named for the unit tests that drive it).
typealias MemcachedConnectionStateMachine<Waiter> = PipelineStateMachine<MemcachedPipeline, Waiter>

extension PipelinedChannel where Handler == MemcachedChannelHandler {
    /// Opens a connection (encrypted when the configuration says so) and logs in when the configuration
    /// has credentials, failing with ``MemcachedError/Code/connectFailed`` within `connectTimeout`
    /// (a TLS handshake failure included) or ``MemcachedError/Code/authenticationFailed``.
    static func connect(
        to server: MemcachedServer,
        configuration: MemcachedClientConfiguration,
        eventLoop: any EventLoop
    ) async throws(MemcachedError) -> MemcachedConnection {
        let connection = try await connect(
            host: server.host,
            port: server.port,
            nodeDescription: server.description,
            eventLoop: eventLoop,
            connectTimeout: configuration.connectTimeout,
            operationTimeout: configuration.operationTimeout,
            decoder: MemcachedResponseDecoder(maximumValueLength: configuration.maximumValueLength),
            configureTransport: configuration.transportSecurity.map { security in
                let host = server.host
                return { channel in try security.configure(channel, host) }
            }
        )
        do {
            try await connection.handshake(credentials: configuration.credentials, usesTLS: configuration.usesTLS, node: server.description)
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    /// With credentials or TLS, first an `mn`: it proves the TLS handshake (a failure is a connect
    /// failure here, not on the first request) and asks whether the server wants a login. Only a
    /// server that answers `CLIENT_ERROR unauthenticated` (it runs with `-Y`) gets the credentials:
    /// sent to one without `-Y`, the login `set` would store them as an ordinary item. Plain
    /// connections without credentials skip all of it.
    private func handshake(credentials: MemcachedCredentials?, usesTLS: Bool, node: String) async throws(MemcachedError) {
        guard credentials != nil || usesTLS else { return }
        let purpose = usesTLS ? "checking the TLS connection" : "checking whether memcached wants a login"
        switch await execute(MemcachedRequest(command: .noop)) {
        case .success(let response) where response.status == .noop:
            return  // no login wanted (credentials, if any, stay unsent)
        case .success(let response) where response.status == .unauthenticated:
            guard let credentials else {
                var error = MemcachedError.unauthenticated
                error.node = node
                throw error
            }
            try await logIn(credentials, node: node)
        case .success(let response):
            throw MemcachedError(.protocolError, "\(purpose): unexpected reply \(response.status)", node: node)
        case .failure(let error):
            throw MemcachedError(.connectFailed, "\(purpose) failed: \(error.message)", node: node)
        }
    }

    private func logIn(_ credentials: MemcachedCredentials, node: String) async throws(MemcachedError) {
        switch await execute(MemcachedRequest(command: .authenticate(credentials))) {
        case .success(let response) where response.status == .authenticated:
            return
        case .success(let response):
            throw MemcachedError(.protocolError, "unexpected reply \(response.status) to the login as \(credentials.username)", node: node)
        case .failure(var error):
            if error.code != .authenticationFailed {
                error = MemcachedError(.connectFailed, "logging in as \(credentials.username) failed: \(error.message)", node: node)
            }
            error.node = node
            throw error
        }
    }
}
