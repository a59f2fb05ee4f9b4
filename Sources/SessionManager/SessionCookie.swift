/// What the response must do with the session cookie.
public enum SessionCookieAction: Sendable, Hashable {
    /// Nothing: the browser already holds the right id (the common case; no `Set-Cookie`).
    case none
    /// Send this id: the session is new, or its id changed (takeover, migration, login rotation).
    case set(SessionID)
    /// Expire the cookie: the session was invalidated.
    case expire
}

/// Builds `Set-Cookie` values. The attribute suffix is formatted once; no `Expires` date is ever
/// formatted per response (on Vapor that alone took half the server's CPU): the cookie lives for
/// the browser session, and expiry uses `Max-Age=0`.
struct SessionCookieFormatter: Sendable {
    private let name: String
    private let attributes: String

    init(_ configuration: SessionCookieConfiguration) {
        name = configuration.name
        var attributes = "; Path=\(configuration.path)"
        if let domain = configuration.domain { attributes += "; Domain=\(domain)" }
        if configuration.secure { attributes += "; Secure" }
        if configuration.httpOnly { attributes += "; HttpOnly" }
        if let sameSite = configuration.sameSite { attributes += "; SameSite=\(sameSite.rawValue)" }
        self.attributes = attributes
    }

    func header(for action: SessionCookieAction) -> String? {
        switch action {
        case .none: return nil
        case .set(let id): return "\(name)=\(id)\(attributes)"
        case .expire: return "\(name)=; Max-Age=0\(attributes)"
        }
    }

    /// Rejects values that would corrupt the header (RFC 6265 token and attribute characters).
    static func validate(_ configuration: SessionCookieConfiguration) throws(SessionConfigurationError) {
        let separators = Set("()<>@,;:\\\"/[]?={} \t".utf8)
        let name = configuration.name.utf8
        guard !name.isEmpty, name.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !separators.contains($0) }) else {
            throw SessionConfigurationError(
                setting: "cookie.name", "\"\(configuration.name)\" is not a cookie name (letters, digits and !#$%&'*+-.^_`|~)")
        }
        for (setting, value) in [("cookie.path", configuration.path), ("cookie.domain", configuration.domain ?? "x")] {
            guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ";") }) else {
                throw SessionConfigurationError(setting: setting, "\"\(value)\" may not be empty or contain ';' or control characters")
            }
        }
        if configuration.sameSite == SessionCookieConfiguration.SameSite.none && !configuration.secure {
            throw SessionConfigurationError(setting: "cookie.sameSite", "SameSite=None requires cookie.secure (browsers reject it otherwise)")
        }
        // The cookie name prefixes browsers enforce (RFC 6265bis): a cookie that breaks their
        // rule is dropped by the browser, so every visit would start a new session.
        let lowercasedName = configuration.name.lowercased()
        if lowercasedName.hasPrefix("__host-") && (!configuration.secure || configuration.path != "/" || configuration.domain != nil) {
            throw SessionConfigurationError(
                setting: "cookie.name", "a __Host- cookie needs cookie.secure, cookie.path \"/\" and no cookie.domain (browsers reject it otherwise)")
        }
        if lowercasedName.hasPrefix("__secure-") && !configuration.secure {
            throw SessionConfigurationError(setting: "cookie.name", "a __Secure- cookie needs cookie.secure (browsers reject it otherwise)")
        }
    }
}
