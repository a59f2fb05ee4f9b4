/// A username and password for memcached's ASCII authentication (`memcached -Y FILE`, whose
/// lines are `username:password`), sent once on every new connection.
///
/// The password never shows itself: printing, `debugPrint` and `dump` show `username:***`.
/// (memcached's binary-protocol SASL does not apply: this client speaks the meta protocol.)
public struct MemcachedCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The name on the left of the `:` in memcached's auth file.
    public let username: String
    /// For the login request only: ``description``, ``debugDescription`` and the mirror never show it.
    let password: String

    /// Longest username or password accepted; memcached's auth file lines are far shorter in practice.
    public static let maximumLength = 255

    /// Credentials, checked: neither part may be empty, longer than ``maximumLength`` bytes, or hold a
    /// space or control character (memcached splits `username password` at the space), and the
    /// username may not hold `:` (the auth file's separator).
    /// - Throws: ``MemcachedError/Code/invalidValue``, naming the part but never quoting the password.
    public init(username: String, password: String) throws(MemcachedError) {
        for (part, text) in [("username", username), ("password", password)] {
            guard !text.isEmpty, text.utf8.count <= Self.maximumLength else {
                throw MemcachedError(.invalidValue, "the memcached \(part) must be 1 to \(Self.maximumLength) bytes")
            }
            guard !text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) else {
                throw MemcachedError(.invalidValue, "the memcached \(part) may not hold spaces or control characters")
            }
        }
        guard !username.contains(":") else {
            throw MemcachedError(.invalidValue, "the memcached username may not hold ':' (the auth file's separator)")
        }
        self.username = username
        self.password = password
    }

    /// `username:***`.
    public var description: String { "\(username):***" }
    /// `username:***`.
    public var debugDescription: String { description }
    /// The username only.
    public var customMirror: Mirror { Mirror(self, children: ["username": username], displayStyle: .struct) }
}
