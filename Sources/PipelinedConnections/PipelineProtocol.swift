import NIOCore

/// What a wire protocol tells the shared pipeline machinery: how to encode a request, what a
/// pending request remembers about it, and what a reply means for the request and the stream.
///
/// memcached and Redis both answer a connection's requests strictly in order, so everything else
/// (the FIFO, the one timer per connection, graceful drain, coalesced writes) is the same code:
/// ``PipelineStateMachine``, ``PipelinedChannelHandler`` and ``PipelinedChannel``.
@usableFromInline
package protocol PipelineProtocol: SendableMetatype {
    associatedtype Request: Sendable
    associatedtype Reply: Sendable
    associatedtype Failure: PipelineFailure
    /// What a pending request keeps to check its reply (memcached: the opaque token it echoes).
    associatedtype Expectation

    /// The peer's name in messages: `memcached`, `Redis`.
    static var peerName: String { get }

    /// Called once per request, in send order; `sequence` increases by one per request (wrapping).
    static func expectation(for request: Request, sequence: UInt32) -> Expectation

    /// Appends the request's bytes; `sequence` is the one ``expectation(for:sequence:)`` saw.
    static func encode(_ request: Request, sequence: UInt32, into buffer: inout ByteBuffer)

    /// Out-of-band data (Redis push frames) that answers no request.
    static func isOutOfBand(_ reply: Reply) -> Bool

    /// What the head request's reply means.
    static func disposition(of reply: Reply, expected: Expectation) -> PipelineReplyDisposition<Failure>

    /// The failure for an error the channel pipeline raised (a decoder error, an I/O error).
    static func channelFailure(_ error: any Error) -> Failure
}

extension PipelineProtocol {
    @inlinable
    package static func isOutOfBand(_ reply: Reply) -> Bool { false }
}

/// What one reply means.
@usableFromInline
package enum PipelineReplyDisposition<Failure> {
    /// Hand it to the waiter.
    case deliver
    /// The request failed, but the stream is still in step: keep the connection.
    case failRequest(Failure)
    /// The stream can no longer be trusted: fail this request and every other, then close.
    case failConnection(Failure)
}
