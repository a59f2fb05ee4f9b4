/// How a ``SessionManager`` behaves. Names follow msm's attributes in Swift style; each default
/// is msm's unless the comment says why it differs.
public struct SessionManagerConfiguration: Sendable {
    /// Sticky (msm's default): sessions live in this process's memory and go to the store at
    /// the end of each request that changed them. Non-sticky: loaded from the store at the start
    /// of every request and stored at its end; nothing is kept between requests. Default `true`.
    public var sticky: Bool = true

    /// msm's `lockingMode`, for non-sticky sessions. Default ``LockingMode/none``.
    public var lockingMode: LockingMode = .none

    /// How long a session lock lives in the store if its owner dies (msm's `lockExpiration`). Default 5 s.
    public var lockExpiration: Duration = .seconds(5)

    /// The longest a request waits for a session lock. Default 1 s (msm waits `operationTimeout`).
    public var lockTimeout: Duration = .seconds(1)

    /// What happens when the lock cannot be had within ``lockTimeout``. msm proceeds without the
    /// lock, silently risking lost updates; the default here refuses the request. Default ``LockFailurePolicy/fail``.
    public var lockFailurePolicy: LockFailurePolicy = .fail

    /// Requests whose path (never the query: msm #371) matches are served without any session
    /// or store work (msm's `requestUriIgnorePattern`), e.g. `.*\.(ico|png|gif|jpg|css|js)$`.
    /// The whole path must match. Default none.
    public var requestURIIgnorePattern: String?

    /// Store after the response is sent instead of before (msm's `sessionBackupAsync`). Faster,
    /// but a redirect may then read stale data (msm #263). Default `false` (msm: `true`).
    public var sessionBackupAsync: Bool = false

    /// Also keep a copy of every session on a second node, so one node crash loses nothing. Default `true`.
    public var backupEnabled: Bool = true

    /// Inactivity after which a session expires, in whole seconds (the store's resolution; a
    /// fraction rounds up); zero or less: never (msm's `maxInactiveInterval`). Default 30 minutes.
    public var maxInactiveInterval: Duration = .seconds(1800)

    /// ``maxInactiveInterval`` as the store keeps it: whole seconds, rounded up; 0 for never.
    var maxInactiveIntervalSeconds: Int { Session.wholeSeconds(maxInactiveInterval) }

    /// Prepended to every store key, to share nodes between applications (msm's `storageKeyPrefix`).
    /// Printable ASCII without spaces, at most 64 characters. Default empty.
    public var storageKeyPrefix: String = ""

    /// Only attributes whose name matches (whole name) are stored; others live in memory only and
    /// never mark the session changed (msm's `sessionAttributeFilter`). Default none: all stored.
    public var sessionAttributeFilter: String?

    /// This app server's name, appended to session ids for sticky load balancers (msm's `jvmRoute`). Default none.
    public var route: String?

    /// `false` turns the store off: sessions are local only, ids carry no node (msm's `enabled`).
    /// Only valid with sticky sessions. Default `true`.
    public var enabled: Bool = true

    /// How long a node's up/down state is trusted before it is probed again (msm's
    /// `msm.nodeAvailabilityCacheTTL`). Default 1 s.
    public var nodeAvailabilityTTL: Duration = .seconds(1)

    /// Sticky mode keeps at most this many sessions in memory; the least recently used beyond it
    /// are dropped from memory (they stay in the store and reload on their next request). Default 10,000.
    public var maximumLocalSessions: Int = 10_000

    /// The session cookie.
    public var cookie = SessionCookieConfiguration()

    /// Encrypts and authenticates every stored session: a `SessionEncryption` key list
    /// (AES-256-GCM, product `SessionCrypto`); `nil`, the default, stores plain envelopes. Every
    /// app server sharing the store needs the same keys, so there is no generated default.
    public var encryption: (any SessionCipher)?

    /// Encodes typed attribute values. Default JSON.
    public var attributeCoder: any SessionAttributeCoder = JSONSessionAttributeCoder()

    /// Where expiry reads the time. Default the system's wall clock; tests may pass one they
    /// advance (with a `MemorySessionStore` on the same clock).
    public var clock: any SessionClock = SystemSessionClock()

    /// The defaults above.
    public init() {}
}

/// msm's `lockingMode`: which non-sticky requests lock their session against concurrent requests.
public enum LockingMode: Sendable, Hashable, CustomStringConvertible {
    /// Never lock (msm's default): concurrent requests on one session may overwrite each other.
    case none
    /// Lock every request that uses a session.
    case all
    /// Lock unless the request (method and path) has been seen to leave the session unchanged.
    case auto
    /// Lock requests whose `METHOD /path` matches this regular expression (whole string).
    case uriPattern(String)

    /// Parses msm's syntax: `none`, `all`, `auto`, `uriPattern:<regex>`.
    public init?(parsing text: String) {
        switch text {
        case "none": self = .none
        case "all": self = .all
        case "auto": self = .auto
        default:
            guard text.hasPrefix("uriPattern:"), text.count > "uriPattern:".count else { return nil }
            self = .uriPattern(String(text.dropFirst("uriPattern:".count)))
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .all: return "all"
        case .auto: return "auto"
        case .uriPattern(let pattern): return "uriPattern:\(pattern)"
        }
    }
}

/// What a request gets when its session lock cannot be acquired in time.
public enum LockFailurePolicy: Sendable, Hashable {
    /// Session access throws ``SessionError/Code/lockTimeout``; adapters answer 503 with `Retry-After`.
    case fail
    /// Proceed without the lock, as msm does (logged as a warning and counted).
    case proceedWithoutLock
}

/// The session cookie's attributes.
public struct SessionCookieConfiguration: Sendable, Hashable {
    /// `SameSite` values.
    public enum SameSite: String, Sendable, Hashable, CaseIterable {
        case strict = "Strict", lax = "Lax", none = "None"
    }

    /// Default `SESSIONID`.
    public var name: String = "SESSIONID"
    /// Default `/`.
    public var path: String = "/"
    /// Default none (host-only cookie).
    public var domain: String?
    /// Default `false`; turn on behind HTTPS.
    public var secure: Bool = false
    /// Default `true`: scripts cannot read the session id.
    public var httpOnly: Bool = true
    /// Default `Lax`.
    public var sameSite: SameSite? = .lax

    /// The defaults above.
    public init() {}
}
