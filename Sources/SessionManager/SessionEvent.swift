/// Lifecycle events, delivered in both sticky and non-sticky mode (msm #219 lost them in non-sticky).
public enum SessionEvent: Sendable, Hashable {
    /// Why a session ended.
    public enum EndReason: Sendable, Hashable {
        /// ``Session/invalidate()`` (logout).
        case invalidated
        /// Inactive longer than its `maxInactiveInterval`; noticed when it was next requested.
        case expired
    }

    /// A new session was created.
    case created(SessionID)
    /// A session ended.
    case destroyed(SessionID, EndReason)
}
