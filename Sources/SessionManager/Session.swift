import Synchronization

/// An HTTP session: typed attributes plus the bookkeeping msm keeps for it.
///
/// In sticky mode one `Session` is shared by every concurrent request of this process that uses
/// it, so attribute writes apply to the shared object at once and none is lost; the state sits
/// behind a mutex for exactly that reason.
public final class Session: Sendable {
    struct State {
        var id: SessionID
        var creationTime: Int64
        var lastAccessedTime: Int64
        var maxInactiveInterval: Int
        var attributes: [String: [UInt8]]
        /// The persisted attributes as the store last received them; `nil` if never stored.
        var storedAttributes: [String: [UInt8]]?
        /// `lastAccessedTime` as the store last received it.
        var storedAccessTime: Int64
        var isValid = true
        /// The next store write must happen even if nothing changed (new id, migration, failed write).
        var mustStore = false
        /// Random parts of ids this session had before ``SessionRequest/changeSessionID()``:
        /// deleted from every node once the session is stored under its new id, not before.
        var retiredRandoms: [String] = []
        /// Bumped by every attribute write; equal to `storedChangeCount` means no write since the
        /// last store, so a read-only request skips even comparing the attributes.
        var changeCount: UInt64 = 0
        var storedChangeCount: UInt64 = 0
    }

    private let state: Mutex<State>
    private let coder: any SessionAttributeCoder
    /// Serializes this session's store writes (see ``AsyncGate``).
    let storeGate = AsyncGate()

    init(state: State, coder: any SessionAttributeCoder) {
        self.state = Mutex(state)
        self.coder = coder
    }

    /// The session's id as the cookie carries it.
    public var id: SessionID { state.withLock { $0.id } }

    /// When the session was created, in milliseconds since the Unix epoch.
    public var creationTime: Int64 { state.withLock { $0.creationTime } }

    /// When a request last used the session, in milliseconds since the Unix epoch.
    public var lastAccessedTime: Int64 { state.withLock { $0.lastAccessedTime } }

    /// Inactivity before this session expires, in whole seconds (a fraction rounds up); zero
    /// or less: never. Starts as the configuration's `maxInactiveInterval`.
    public var maxInactiveInterval: Duration {
        get { .seconds(state.withLock { $0.maxInactiveInterval }) }
        set {
            let seconds = Self.wholeSeconds(newValue)
            state.withLock { $0.maxInactiveInterval = seconds }
        }
    }

    /// A duration as whole seconds, rounded up, clamped to what the store's envelope holds;
    /// 0 for zero or negative (never expires).
    static func wholeSeconds(_ duration: Duration) -> Int {
        guard duration > .zero else { return 0 }
        let (seconds, attoseconds) = duration.components
        let rounded = attoseconds > 0 ? seconds.addingReportingOverflow(1).partialValue : seconds
        return Int(clamping: min(rounded, Int64(Int32.max)))
    }

    /// True until the session has been written to the store once.
    public var isNew: Bool { state.withLock { $0.storedAttributes == nil } }

    /// False once ``invalidate()`` was called.
    public var isValid: Bool { state.withLock { $0.isValid } }

    /// The names of all attributes.
    public var attributeNames: [String] { state.withLock { Array($0.attributes.keys) } }

    /// The attribute decoded as `Value`; `nil` when absent.
    /// - Throws: ``SessionError/Code/attributeCoding`` when the stored bytes are not a `Value`.
    public func attribute<Value: Decodable>(_ name: String, as type: Value.Type = Value.self) throws(SessionError) -> Value? {
        guard let bytes = state.withLock({ $0.attributes[name] }) else { return nil }
        do {
            return try coder.decode(type, from: bytes)
        } catch {
            throw SessionError(.attributeCoding, "attribute \"\(name)\" is not a \(Value.self): \(error)")
        }
    }

    /// Sets the attribute; setting the value it already has is not a change.
    /// - Throws: ``SessionError/Code/attributeCoding`` when `value` cannot be encoded.
    public func setAttribute<Value: Encodable>(_ name: String, _ value: Value) throws(SessionError) {
        let bytes: [UInt8]
        do {
            bytes = try coder.encode(value)
        } catch {
            throw SessionError(.attributeCoding, "attribute \"\(name)\" cannot be encoded: \(error)")
        }
        try setRawAttribute(name, bytes)
    }

    /// Removes the attribute.
    public func removeAttribute(_ name: String) {
        state.withLock { state in
            if state.attributes.removeValue(forKey: name) != nil { state.changeCount &+= 1 }
        }
    }

    /// The attribute's encoded bytes, for callers with their own encoding.
    public func rawAttribute(_ name: String) -> [UInt8]? {
        state.withLock { $0.attributes[name] }
    }

    /// Sets the attribute's encoded bytes.
    /// - Throws: ``SessionError/Code/attributeCoding`` for a name over 1024 bytes or a value over
    ///   64 MiB (names may come from a URL; the store's envelope has hard limits).
    public func setRawAttribute(_ name: String, _ bytes: [UInt8]) throws(SessionError) {
        guard !name.isEmpty, name.utf8.count <= Self.maximumNameLength else {
            throw SessionError(.attributeCoding, "attribute names must be 1 to \(Self.maximumNameLength) bytes (got \(name.utf8.count))")
        }
        guard bytes.count <= Self.maximumValueLength else {
            throw SessionError(.attributeCoding, "attribute \"\(name.prefix(64))\" is \(bytes.count) bytes; at most \(Self.maximumValueLength)")
        }
        state.withLock { state in
            state.attributes[name] = bytes
            state.changeCount &+= 1
        }
    }

    // MARK: The whole session as one value

    /// Attribute names starting with this belong to the package (``value(as:)``, ``userID(as:)``):
    /// always stored, whatever `sessionAttributeFilter` says.
    public static let reservedAttributePrefix = "msm."
    /// Where ``setValue(_:)`` keeps the whole-session value, beside any named attributes.
    public static let valueAttributeName = "msm.value"
    /// Where `SessionRequest.logIn(userID:)` records the logged-in user.
    public static let userIDAttributeName = "msm.userID"

    /// The whole-session value, for apps that keep their session as one `Codable` struct (as
    /// hummingbird-auth's `SessionMiddleware<Session>` does) rather than named attributes;
    /// `nil` until ``setValue(_:)`` was called.
    /// - Throws: ``SessionError/Code/attributeCoding`` when the stored value is not a `Value`
    ///   (for example after the struct changed incompatibly: catch it and start afresh).
    public func value<Value: Decodable>(as type: Value.Type = Value.self) throws(SessionError) -> Value? {
        try attribute(Self.valueAttributeName, as: type)
    }

    /// Replaces the whole-session value; setting the value it already has is not a change.
    /// - Throws: ``SessionError/Code/attributeCoding`` when `value` cannot be encoded.
    public func setValue<Value: Encodable>(_ value: Value) throws(SessionError) {
        try setAttribute(Self.valueAttributeName, value)
    }

    /// Removes the whole-session value; named attributes stay.
    public func removeValue() {
        removeAttribute(Self.valueAttributeName)
    }

    /// The user `SessionRequest.logIn(userID:)` recorded; `nil` when nobody logged in.
    /// - Throws: ``SessionError/Code/attributeCoding`` when the recorded id is not an `ID`.
    public func userID<ID: Decodable>(as type: ID.Type = ID.self) throws(SessionError) -> ID? {
        try attribute(Self.userIDAttributeName, as: type)
    }

    /// Longest attribute name accepted.
    public static let maximumNameLength = 1024
    /// Largest encoded attribute value accepted (memcached's item limit is far lower by default).
    public static let maximumValueLength = 64 << 20

    /// Ends the session: every copy is removed from the store when the request finishes, and the
    /// cookie is expired.
    public func invalidate() {
        state.withLock { $0.isValid = false }
    }

    // MARK: For the manager

    func withState<Result>(_ body: (inout State) -> Result) -> Result {
        state.withLock { body(&$0) }
    }
}
