import PipelinedConnections

/// Everything that can go wrong talking to memcached, with what to do about it.
///
/// A struct with an extensible ``Code`` (the postgres-nio shape) rather than an enum, so new
/// failure kinds do not break users' exhaustive switches.
public struct MemcachedError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members (`error.code == .timeout`).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidKey, invalidValue, invalidAddress, timeout, connectionClosed, connectFailed, nodeUnavailable
            case itemTooLarge, outOfMemory, serverError, clientError, protocolError
            case clientShutdown, connectionReset, authenticationFailed
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The key is empty, too long, or holds a space or control character. Nothing was sent.
        public static let invalidKey = Code(.invalidKey)
        /// The value cannot be stored as given (for example longer than the configured maximum).
        public static let invalidValue = Code(.invalidValue)
        /// A server address that cannot be parsed or used (missing port, port out of range...).
        public static let invalidAddress = Code(.invalidAddress)
        /// The node did not answer within the operation timeout; the connection was reset.
        public static let timeout = Code(.timeout)
        /// The connection closed (the node died or restarted) before the reply arrived.
        public static let connectionClosed = Code(.connectionClosed)
        /// The connection was reset because another request on it failed (the server broke the
        /// protocol for that one); this request was not at fault and may be retried.
        public static let connectionReset = Code(.connectionReset)
        /// A connection could not be opened (refused, unreachable or connect timeout).
        public static let connectFailed = Code(.connectFailed)
        /// The node failed recently and is in reconnect backoff; the request failed fast.
        public static let nodeUnavailable = Code(.nodeUnavailable)
        /// memcached refused the value as larger than its item size limit (`-I`).
        public static let itemTooLarge = Code(.itemTooLarge)
        /// memcached had no memory to store the value.
        public static let outOfMemory = Code(.outOfMemory)
        /// memcached answered `SERVER_ERROR` for another reason.
        public static let serverError = Code(.serverError)
        /// memcached answered `CLIENT_ERROR` or `ERROR`: it did not understand the request.
        public static let clientError = Code(.clientError)
        /// The reply did not follow the protocol (garbage, mismatched opaque, oversized line).
        public static let protocolError = Code(.protocolError)
        /// The client is shutting down or shut down.
        public static let clientShutdown = Code(.clientShutdown)
        /// memcached runs with `-Y` (ASCII authentication) and refused the configured username and
        /// password, or none are configured.
        public static let authenticationFailed = Code(.authenticationFailed)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// Details: what happened, in words.
    public var message: String
    /// The server the operation went to (`127.0.0.1:11211`), when there was one.
    public var node: String?

    /// Creates an error; `node` is filled in by the layer that knows it.
    public init(_ code: Code, _ message: String, node: String? = nil) {
        self.code = code
        self.message = message
        self.node = node
    }

    /// True when another node may well succeed: the failure was the node's, not the request's.
    public var isNodeFailure: Bool {
        // A refused login makes the node unusable for this client as surely as a dead one.
        [.timeout, .connectionClosed, .connectFailed, .nodeUnavailable, .protocolError, .serverError, .authenticationFailed].contains(code)
    }

    public var description: String {
        let location = node.map { " (node \($0))" } ?? ""
        return "memcached \(code)\(location): \(message). \(advice)"
    }

    private var advice: String {
        switch code {
        case .invalidKey: return "Validate or hash user input before using it as a key."
        case .connectionReset: return "Retry the request; the client opens a new connection."
        case .timeout, .connectionClosed, .connectFailed, .nodeUnavailable:
            return "Check that memcached runs and answers at that address; the client reconnects by itself."
        case .itemTooLarge: return "Store less data, or raise memcached's item size limit with -I."
        case .outOfMemory: return "Give memcached more memory (-m) or store less."
        case .invalidAddress, .invalidValue: return "Fix the configuration or the argument as the message says."
        case .clientShutdown: return "Create a new client; this one is closed."
        case .authenticationFailed:
            return "Configure credentials matching a username:password line of the server's -Y file "
                + "(MemcachedClientConfiguration.credentials; msm serve: --memcached-username and MSM_MEMCACHED_PASSWORD)."
        case .protocolError, .clientError:
            return "This is a bug or a non-memcached peer at that address; the connection was reset. Please report it."
        default: return "See memcached's log for details."
        }
    }
}

extension MemcachedError {
    /// What a `-Y` server's `CLIENT_ERROR unauthenticated` means for a connection without a login.
    static let unauthenticated = MemcachedError(
        .authenticationFailed, "memcached requires authentication (it runs with -Y) and none is configured")
}

extension MemcachedError: PipelineFailure {
    @usableFromInline
    package init(pipelineFailure kind: PipelineFailureKind, _ message: String, node: String?) {
        self.init(Code(kind), message, node: node)
    }
}

extension MemcachedError.Code: PipelineFailureCodes {}
