import PipelinedConnections

/// Everything that can go wrong talking to Redis, with what to do about it.
///
/// A struct with an extensible ``Code`` (the postgres-nio shape), so new failure kinds do not
/// break users' exhaustive switches. Error replies keep Redis' own first word in
/// ``serverErrorCode`` (`ERR`, `WRONGTYPE`, `NOSCRIPT`...), since the codes here group them by
/// what the caller should do.
public struct RedisError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members (`error.code == .timeout`).
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case invalidArgument, invalidAddress, timeout, connectionClosed, connectFailed, nodeUnavailable
            case authenticationFailed, wrongType, loading, busy, readOnly, outOfMemory, scriptNotFound
            case serverError, protocolError, clientShutdown, connectionReset
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A key, value or setting cannot be sent as given (too long, negative, empty): nothing was
        /// sent, or Redis refused an argument longer than its `proto-max-bulk-len` (and then closed
        /// that connection, failing the commands queued behind it).
        public static let invalidArgument = Code(.invalidArgument)
        /// A server URL that cannot be parsed or used (bad scheme, port out of range...).
        public static let invalidAddress = Code(.invalidAddress)
        /// Redis did not answer within the operation timeout; the connection was reset.
        public static let timeout = Code(.timeout)
        /// The connection closed (Redis died, restarted or dropped us) before the reply arrived.
        public static let connectionClosed = Code(.connectionClosed)
        /// The connection was reset because another command on it failed (a protocol error, after
        /// which Redis drops the connection); this command was not at fault and may be retried.
        public static let connectionReset = Code(.connectionReset)
        /// A connection could not be opened (refused, unreachable or connect timeout).
        public static let connectFailed = Code(.connectFailed)
        /// The node failed recently and is in reconnect backoff; the request failed fast.
        public static let nodeUnavailable = Code(.nodeUnavailable)
        /// `NOAUTH`, `WRONGPASS` or `NOPERM`: the credentials are missing, wrong, or lack a permission.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// `WRONGTYPE`: the key holds another kind of value (something else uses this key).
        public static let wrongType = Code(.wrongType)
        /// `LOADING`: Redis is loading its dataset after a restart; try again shortly.
        public static let loading = Code(.loading)
        /// `BUSY`: a long-running script blocks the server.
        public static let busy = Code(.busy)
        /// `READONLY` or `MASTERDOWN`: the node is a replica or lost its primary; writes go elsewhere.
        public static let readOnly = Code(.readOnly)
        /// `OOM`: Redis reached `maxmemory` and its eviction policy refuses writes.
        public static let outOfMemory = Code(.outOfMemory)
        /// `NOSCRIPT`: the script is not cached on the server (the client falls back to `EVAL` itself).
        public static let scriptNotFound = Code(.scriptNotFound)
        /// Any other error reply (`ERR ...`): Redis did not accept the command.
        public static let serverError = Code(.serverError)
        /// The reply did not follow the protocol, or did not have the shape the command implies.
        public static let protocolError = Code(.protocolError)
        /// The client is shutting down or shut down.
        public static let clientShutdown = Code(.clientShutdown)

        public var description: String { base.rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// Details: what happened, in words (never a password).
    public var message: String
    /// The node the operation went to, password redacted, when there was one.
    public var node: String?
    /// Redis' own first word of an error reply (`ERR`, `WRONGTYPE`...); `nil` when the failure
    /// was not an error reply.
    public var serverErrorCode: String?

    /// Creates an error; `node` is filled in by the layer that knows it.
    public init(_ code: Code, _ message: String, node: String? = nil, serverErrorCode: String? = nil) {
        self.code = code
        self.message = message
        self.node = node
        self.serverErrorCode = serverErrorCode
    }

    /// Classifies an error reply by its first word, and Redis' refusal of an over-long argument
    /// (our encoder writes only valid lengths, so "invalid bulk length" can only mean that) as
    /// ``Code/invalidArgument``: the value is to blame, not the node.
    init(reply: RESPError, node: String?) {
        let code: Code
        var message = "Redis answered \(reply)"
        switch reply.code {
        case "ERR" where reply.message.hasPrefix("Protocol error: invalid bulk length"):
            code = .invalidArgument
            message += " (an argument is longer than its proto-max-bulk-len; Redis closed the connection)"
        case "WRONGTYPE": code = .wrongType
        case "NOAUTH", "WRONGPASS", "NOPERM": code = .authenticationFailed
        case "LOADING": code = .loading
        case "BUSY": code = .busy
        case "READONLY", "MASTERDOWN": code = .readOnly
        case "OOM": code = .outOfMemory
        case "NOSCRIPT": code = .scriptNotFound
        default: code = .serverError
        }
        self.init(code, message, node: node, serverErrorCode: reply.code)
    }

    /// True when another node may well succeed: the failure was the node's, not the request's.
    public var isNodeFailure: Bool {
        [.timeout, .connectionClosed, .connectFailed, .nodeUnavailable, .protocolError, .loading, .busy, .readOnly, .authenticationFailed]
            .contains(code)
    }

    public var description: String {
        let location = node.map { " (node \($0))" } ?? ""
        return "redis \(code)\(location): \(message). \(advice)"
    }

    private var advice: String {
        switch code {
        case .invalidArgument:
            return
                "Check the key, value or setting against Redis' limits; with a lowered proto-max-bulk-len, set maximumValueLength to match so such values are refused before sending."
        case .connectionReset: return "Retry the command; the client opens a new connection."
        case .timeout, .connectionClosed, .connectFailed, .nodeUnavailable:
            return "Check that redis-server runs and answers at that address; the client reconnects by itself."
        case .authenticationFailed:
            return "Check the user name and password in the redis:// URL and the user's ACL (ACL LIST)."
        case .wrongType: return "Another application uses the same key; give this one its own prefix or database."
        case .loading, .busy: return "Redis is temporarily unable to serve; the request may be retried shortly."
        case .readOnly: return "Point the client at the primary, not a replica."
        case .outOfMemory: return "Give Redis more memory (maxmemory) or an eviction policy such as volatile-lru."
        case .invalidAddress: return "Fix the server URL as the message says."
        case .clientShutdown: return "Create a new client; this one is closed."
        case .protocolError:
            return "This is a bug or a non-Redis peer at that address; the connection was reset. Please report it."
        default: return "See Redis' log for details."
        }
    }
}

extension RedisError: PipelineFailure {
    @usableFromInline
    package init(pipelineFailure kind: PipelineFailureKind, _ message: String, node: String?) {
        self.init(Code(kind), message, node: node)
    }
}

extension RedisError.Code: PipelineFailureCodes {}
