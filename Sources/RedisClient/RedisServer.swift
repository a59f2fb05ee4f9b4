import PipelinedConnections

/// A Redis password that never shows itself in logs, error messages or debugger dumps.
///
/// Server URLs end up in startup logs and error messages; wrapping the password makes printing a
/// ``RedisServer`` safe by construction instead of relying on every call site to remember.
/// Read the secret only where it is sent to the server, with ``reveal()``.
public struct RedisPassword: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    private let secret: String

    /// Wraps `secret`.
    public init(_ secret: String) {
        self.secret = secret
    }

    /// The password itself, for the `AUTH` command only: never log it.
    public func reveal() -> String {
        secret
    }

    /// `***`, so string interpolation cannot leak the password.
    public var description: String { "***" }

    /// `***`, so `String(reflecting:)` and `debugPrint` cannot leak the password.
    public var debugDescription: String { "***" }

    /// A mirror without children, so `dump` and debuggers cannot leak the password.
    public var customMirror: Mirror {
        Mirror(self, children: [], displayStyle: .struct)
    }
}

/// Where a Redis server listens, and the database and credentials to use on it.
public struct RedisServer: Sendable, Hashable, CustomStringConvertible {
    /// Redis's standard port, used when a URL names none.
    public static let defaultPort = 6379

    /// The host name or address; an IPv6 literal is stored without brackets, e.g. `::1`.
    public var host: String
    /// The TCP port, 1...65535.
    public var port: Int
    /// The logical database to `SELECT` (the URL's `/db`), 0 by default.
    public var database: Int
    /// The ACL user to authenticate as; `nil` (or an empty name, stored as `nil`) means Redis's
    /// default user (`requirepass`).
    public var username: String? {
        get { storedUsername }
        set { storedUsername = newValue?.isEmpty == true ? nil : newValue }
    }
    private var storedUsername: String?
    /// The password sent with `AUTH`; `nil` when the server needs none.
    public var password: RedisPassword?
    /// Whether connections are encrypted (`rediss://`), verified as
    /// ``RedisClientConfiguration/tlsConfiguration`` says.
    public var usesTLS: Bool

    /// A server, unchecked; ``RedisClient`` checks it.
    public init(
        host: String,
        port: Int = RedisServer.defaultPort,
        database: Int = 0,
        username: String? = nil,
        password: RedisPassword? = nil,
        usesTLS: Bool = false
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.password = password
        self.usesTLS = usesTLS
        self.username = username
    }

    /// Parses `redis://[user:password@]host[:port][/db]` (`rediss://` for TLS): the port defaults
    /// to 6379 and the database to 0; IPv6 hosts go in brackets (`redis://[::1]:6380`); user and
    /// password are percent-decoded, and the last `@` ends them, so a password may hold any
    /// character once `%`, `,` and whitespace are written as `%25`, `%2C` and `%20`. An empty
    /// user (`redis://:secret@host`) means the default user.
    /// - Throws: ``RedisError/Code/invalidAddress`` saying what to write instead, never quoting
    ///   the password.
    public init(url: String) throws(RedisError) {
        guard let separator = url.firstRange(of: "://") else {
            throw Self.invalid("not a Redis URL; write \(Self.syntax), e.g. \(Self.example)")
        }
        let scheme = url[..<separator.lowerBound]
        let rest = url[separator.upperBound...]
        let usesTLS: Bool
        switch scheme.lowercased() {
        case "redis": usesTLS = false
        case "rediss": usesTLS = true
        default: throw Self.invalid("unsupported scheme '\(scheme)://'; write \(Self.syntax), e.g. \(Self.example)")
        }
        self.init(host: "", usesTLS: usesTLS)
        var remainder = rest
        if let at = rest.lastIndex(of: "@") {
            (username, password) = try Self.parseCredentials(rest[..<at])
            remainder = rest[rest.index(after: at)...]
        }
        if let mark = remainder.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            throw Self.invalid(
                remainder[mark] == "?"
                    ? "query strings ('?...') are not supported; write \(Self.syntax) and set other options separately"
                    : "fragments ('#...') are not supported; write \(Self.syntax)"
            )
        }
        var hostPort = remainder
        if let slash = remainder.firstIndex(of: "/") {
            hostPort = remainder[..<slash]
            database = try Self.parseDatabase(remainder[remainder.index(after: slash)...])
        }
        do throws(ServerAddressRules.Problem) {
            (host, port) = try ServerAddressRules.hostAndPort(
                hostPort, defaultPort: Self.defaultPort, example: Self.example, ipv6Example: "redis://[::1]:6379")
        } catch {
            throw Self.invalid(error.reason)
        }
        try validate()
    }

    /// `host:port` for connecting and for messages, IPv6 hosts in brackets (`[::1]:6379`).
    public var endpoint: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(hostPart):\(port)"
    }

    /// The server as a URL with the password shown as `***` (`redis://alice:***@127.0.0.1:6380/2`),
    /// so it is safe to log. Without a password, ``init(url:)`` reads it back.
    public var description: String {
        var credentials = ""
        if password != nil {
            credentials = "\(Self.percentEncoded(username ?? "")):***@"
        } else if let username {
            credentials = "\(Self.percentEncoded(username))@"
        }
        let databasePart = database == 0 ? "" : "/\(database)"
        return "\(usesTLS ? "rediss" : "redis")://\(credentials)\(endpoint)\(databasePart)"
    }

    /// Throws when a field cannot be used: host, port range, database, credentials.
    public func validate() throws(RedisError) {
        if let problem = ServerAddressRules.problem(host: host, port: port, forbidden: ",[]/?#@", example: Self.example) {
            throw Self.invalid(problem)
        }
        guard database >= 0 else {
            throw Self.invalid("database \(database) is negative; write a database number from 0, e.g. \(Self.example)/1")
        }
        if let password, password.reveal().isEmpty {
            throw Self.invalid("empty password; write redis://user:password@host, or no credentials when the server needs none")
        }
        if username != nil, password == nil {
            throw Self.invalid("a username needs a password; write redis://user:password@host")
        }
    }

    private static let example = "redis://127.0.0.1:6379"
    private static let syntax = "redis://[user:password@]host[:port][/db]"

    private static func invalid(_ reason: String) -> RedisError {
        RedisError(.invalidAddress, reason)
    }

    /// `user:password` (either part percent-encoded; user may be empty) into its decoded parts.
    private static func parseCredentials(
        _ userinfo: Substring
    ) throws(RedisError) -> (username: String?, password: RedisPassword?) {
        guard let colon = userinfo.firstIndex(of: ":") else {
            throw invalid(
                userinfo.isEmpty
                    ? "nothing before '@'; write redis://:password@host for a password, or drop the '@'"
                    : "credentials need a ':'; write redis://user:password@host, or redis://:password@host "
                        + "for the default user"
            )
        }
        let user = try percentDecoded(userinfo[..<colon], what: "username")
        let password = try percentDecoded(userinfo[userinfo.index(after: colon)...], what: "password")
        return (user.isEmpty ? nil : user, RedisPassword(password))
    }

    /// Decodes `%XX` escapes; a `%` not followed by two hex digits, or bytes that are not UTF-8, are errors.
    private static func percentDecoded(
        _ text: Substring,
        what: String
    ) throws(RedisError) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.next().flatMap(hexValue), let low = utf8.next().flatMap(hexValue) else {
                throw invalid(
                    "the \(what) has a '%' not followed by two hex digits; write '%' itself as %25"
                )
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw invalid("the \(what)'s percent escapes do not decode to UTF-8 text")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Percent-encodes all but RFC 3986's unreserved characters, for writing a username back into a URL.
    static func percentEncoded(_ text: String) -> String {
        var result = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            let isUnreserved =
                ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                || "_-.~".unicodeScalars.contains(scalar)
            if byte < 0x80 && isUnreserved {
                result.unicodeScalars.append(scalar)
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                result += byte < 0x10 ? "%0\(hex)" : "%\(hex)"
            }
        }
        return result
    }

    /// The `/db` part: empty (database 0) or ASCII decimal digits, with nothing after them.
    private static func parseDatabase(_ text: Substring) throws(RedisError) -> Int {
        if text.isEmpty { return 0 }
        if text.contains("/") {
            throw invalid(
                "nothing may follow the database number; write \(syntax), e.g. \(example)/1"
            )
        }
        guard text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
            throw invalid(
                "database '\(text)' is not a non-negative decimal number; write e.g. \(example)/1"
            )
        }
        guard let database = Int(text) else {
            throw invalid("database '\(text)' is too large; write e.g. \(example)/1")
        }
        return database
    }
}
