import NIOCore

/// A connection that carries many requests at once and answers them in order, as memcached's
/// and Redis' are: the shape ``ConnectionSlot`` manages.
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

/// The errors a slot must be able to raise itself, in the protocol client's own error type.
package protocol ConnectionSlotFailure: Error, Sendable {
    /// The node failed `consecutiveFailures` times in a row and the next reconnect is `retryIn` away:
    /// the request fails fast instead of waiting.
    static func backingOff(consecutiveFailures: Int, lastError: Self, retryIn: Duration, node: String) -> Self
    /// The client was shut down.
    static func shutDown(node: String) -> Self
    /// A connect attempt failed with an error of another type (should not happen; kept total).
    static func connectFailed(_ error: any Error, node: String) -> Self
}
