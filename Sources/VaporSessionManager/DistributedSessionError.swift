import SessionManager
import Vapor

/// A session failure as a Vapor `AbortError`: the store or the session lock unavailable is a
/// 503 with `Retry-After`, anything else a 500. The reason says what happened, never a session id.
public struct DistributedSessionError: AbortError, CustomStringConvertible {
    /// The session layer's error, when there was one.
    public let underlying: SessionError?
    public let status: HTTPResponseStatus
    public let reason: String

    /// Wraps a session error.
    public init(_ error: SessionError) {
        self.underlying = error
        self.reason = error.description
        self.status = error.isTemporary ? .serviceUnavailable : .internalServerError
    }

    static let notInstalled = DistributedSessionError(
        status: .internalServerError,
        reason:
            "no session for this request: add DistributedSessionsMiddleware (app.distributedSessions.use(manager)) in front of this route, and check requestURIIgnorePattern"
    )

    private init(status: HTTPResponseStatus, reason: String) {
        self.underlying = nil
        self.status = status
        self.reason = reason
    }

    public var headers: HTTPHeaders {
        status == .serviceUnavailable ? ["Retry-After": "1"] : [:]
    }

    public var description: String { reason }
}
