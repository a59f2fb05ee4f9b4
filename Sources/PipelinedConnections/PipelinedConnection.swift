import NIOCore

/// A connection that carries many requests at once and answers them in order, as memcached's
/// and Redis' are: the shape ``ConnectionSlot`` manages.
@usableFromInline
package protocol PipelinedConnection: AnyObject, Sendable {
    /// Whether the channel is still open.
    var isActive: Bool { get }
    /// Completes when the channel has closed, for whatever reason.
    var closeFuture: EventLoopFuture<Void> { get }
    /// Stops taking requests and closes once every pending reply has arrived.
    func drain() async
    /// Closes now, failing whatever is pending.
    func close() async
}

/// The failures the shared connection machinery raises itself, made in each protocol client's
/// own error type so users see one typed error per client.
@usableFromInline
package protocol PipelineFailure: Error, Sendable {
    /// The node the request went to; filled in by the connection that knows it.
    var node: String? { get set }
    /// What happened, in words.
    var message: String { get }
    /// A failure the shared machinery raises, as the client's own error (its code for `kind`).
    init(pipelineFailure kind: PipelineFailureKind, _ message: String, node: String?)
}

extension PipelineFailure {
    /// A failure of the connection itself.
    @inlinable
    package static func pipeline(_ kind: PipelineFailureKind, _ message: String) -> Self {
        Self(pipelineFailure: kind, message, node: nil)
    }

    /// The node failed `consecutiveFailures` times in a row and the next reconnect is `retryIn` away:
    /// the request fails fast instead of waiting.
    package static func backingOff(consecutiveFailures: Int, lastError: Self, retryIn: Duration, node: String) -> Self {
        Self(
            pipelineFailure: .nodeUnavailable,
            "the node failed \(consecutiveFailures) time(s) in a row (last: \(lastError.message)); next reconnect in \(retryIn.wholeMilliseconds) ms",
            node: node
        )
    }

    /// A connect attempt failed.
    package static func connectFailed(_ error: any Error, node: String) -> Self {
        Self(pipelineFailure: .connectFailed, "cannot connect: \(error)", node: node)
    }
}

/// A client error's code type with a code for every ``PipelineFailureKind``: its static members
/// of those names satisfy the requirements, and the kind-to-code mapping is written once here.
package protocol PipelineFailureCodes {
    static var clientShutdown: Self { get }
    static var connectionClosed: Self { get }
    static var connectionReset: Self { get }
    static var protocolError: Self { get }
    static var timeout: Self { get }
    static var nodeUnavailable: Self { get }
    static var connectFailed: Self { get }
}

extension PipelineFailureCodes {
    /// The code for a failure the shared machinery raised.
    package init(_ kind: PipelineFailureKind) {
        self =
            switch kind {
            case .clientShutdown: .clientShutdown
            case .connectionReset: .connectionReset
            case .connectionClosed: .connectionClosed
            case .protocolError: .protocolError
            case .timeout: .timeout
            case .nodeUnavailable: .nodeUnavailable
            case .connectFailed: .connectFailed
            }
    }
}

/// The kinds of ``PipelineFailure`` the shared machinery raises.
@usableFromInline
package enum PipelineFailureKind: Sendable {
    /// The client or connection is shutting down.
    case clientShutdown
    /// The connection closed before the reply arrived.
    case connectionClosed
    /// The connection was closed because another request on it failed; this one was not at
    /// fault (it may not even have reached the server) and may be retried on a new connection.
    case connectionReset
    /// The peer broke the protocol; nothing after it can be trusted.
    case protocolError
    /// No reply within the operation timeout.
    case timeout
    /// The node failed recently and is in reconnect backoff: the request failed fast.
    case nodeUnavailable
    /// A connection could not be opened.
    case connectFailed
}
