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
