import Hummingbird
import SessionManager

/// A session failure as an HTTP response: the store or the session lock unavailable is a
/// 503 with `Retry-After`, anything else a 500. The body says what happened, never a session id.
public struct SessionHTTPError: HTTPResponseError, CustomStringConvertible {
    /// The session layer's error, when there was one.
    public let underlying: SessionError?
    /// The response status.
    public let status: HTTPResponse.Status
    private let message: String

    /// Wraps a session error.
    public init(_ error: SessionError) {
        self.underlying = error
        self.message = error.description
        self.status = error.isTemporary ? .serviceUnavailable : .internalServerError
    }

    static let notInstalled = SessionHTTPError(
        status: .internalServerError,
        message: "no session for this request: add DistributedSessionMiddleware in front of this route, and check requestURIIgnorePattern"
    )

    private init(status: HTTPResponse.Status, message: String) {
        self.underlying = nil
        self.status = status
        self.message = message
    }

    public var description: String { message }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "text/plain; charset=utf-8"]
        if status == .serviceUnavailable { headers[.retryAfter] = "1" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}
