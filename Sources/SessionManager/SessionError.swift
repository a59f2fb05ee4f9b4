/// What a session operation could not do, and what the caller should answer.
public struct SessionError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure; compare with the static members.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }

        /// The session lock could not be acquired in time (non-sticky locking). Answer 503 and retry.
        public static let lockTimeout = Code("lockTimeout")
        /// No store node is reachable and the session cannot be kept (non-sticky). Answer 503.
        public static let storeUnavailable = Code("storeUnavailable")
        /// The session grew larger than the store accepts. Store less in it.
        public static let sessionTooLarge = Code("sessionTooLarge")
        /// An attribute could not be encoded or decoded as the requested type.
        public static let attributeCoding = Code("attributeCoding")
        /// The session was invalidated earlier in this request.
        public static let invalidated = Code("invalidated")

        public var description: String { name }
    }

    /// The kind of failure.
    public var code: Code
    /// Details.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "session \(code): \(message)" }

    /// True when the request may succeed if retried shortly (the lock or the store was
    /// unavailable): adapters answer 503 with `Retry-After`; anything else is a 500.
    public var isTemporary: Bool { code == .lockTimeout || code == .storeUnavailable }
}

/// Configuration that cannot work, named by its setting, raised when the manager is created.
public struct SessionConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The setting at fault, by its Swift name (msm's name in parentheses where it differs).
    public var setting: String
    /// What is wrong and what to write instead.
    public var message: String

    /// Creates an error.
    public init(setting: String, _ message: String) {
        self.setting = setting
        self.message = message
    }

    public var description: String { "invalid session manager configuration: \(setting): \(message)" }
}
