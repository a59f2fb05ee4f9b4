import NodeListRules

/// A Redis password that never shows itself in logs, error messages or debugger dumps.
///
/// Node lists end up in startup logs and error messages; wrapping the password makes printing a
/// ``RedisNode`` safe by construction instead of relying on every call site to remember.
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

/// One Redis server named in a node list, with the database and credentials to use on it.
///
/// As with memcached, the node's id is written into every session id, so the id is how a request
/// finds the server that holds its session again.
public struct RedisNode: Sendable, Hashable, CustomStringConvertible {
    /// Redis's standard port, used when a URL names none.
    public static let defaultPort = 6379

    /// The node id carried in session ids; `nil` when the list is a single `redis://` URL.
    public var id: String?
    /// The host name or address to connect to; an IPv6 literal is stored without brackets, e.g. `::1`.
    public var host: String
    /// The TCP port Redis listens on, 1...65535 in a validated list.
    public var port: Int
    /// The logical database to `SELECT` (the URL's `/db`), 0 by default.
    public var database: Int
    /// The ACL user to authenticate as; `nil` means Redis's default user (`requirepass`).
    public var username: String?
    /// The password sent with `AUTH`; `nil` when the server needs none.
    public var password: RedisPassword?
    /// Whether connections are encrypted (`rediss://`), verified as
    /// ``RedisClientConfiguration/tlsConfiguration`` says.
    public var usesTLS: Bool

    /// Makes a node without validating it; ``RedisNodeList`` validates nodes it is given.
    ///
    /// An empty `username` is stored as `nil`: both mean Redis's default user.
    public init(
        id: String? = nil,
        host: String,
        port: Int = RedisNode.defaultPort,
        database: Int = 0,
        username: String? = nil,
        password: RedisPassword? = nil,
        usesTLS: Bool = false
    ) {
        self.usesTLS = usesTLS
        self.id = id
        self.host = host
        self.port = port
        self.database = database
        self.username = username?.isEmpty == true ? nil : username
        self.password = password
    }

    /// `host:port` for connecting and for messages, IPv6 hosts in brackets (`[::1]:6379`).
    public var endpoint: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(hostPart):\(port)"
    }

    /// The node in node-list syntax with the password shown as `***`
    /// (`r1:redis://alice:***@127.0.0.1:6380/2`), so it is safe to log.
    ///
    /// Without a password, a list of descriptions joined by commas parses back to the same nodes.
    public var description: String {
        let idPart = id.map { "\($0):" } ?? ""
        var credentials = ""
        if password != nil {
            credentials = "\(RedisNodeList.percentEncoded(username ?? "")):***@"
        } else if let username {
            credentials = "\(RedisNodeList.percentEncoded(username))@"
        }
        let databasePart = database == 0 ? "" : "/\(database)"
        return "\(idPart)\(usesTLS ? "rediss" : "redis")://\(credentials)\(endpoint)\(databasePart)"
    }
}

/// A parsed Redis node list (`redis://...` URLs) + `failoverNodes` pair.
///
/// It mirrors ``MemcachedNodeList`` so the session manager treats both backends alike, and parsing
/// up front turns a typo into one clear error at startup instead of sessions landing on the wrong
/// server (or none) at runtime.
public struct RedisNodeList: Sendable, Hashable {
    /// Every node, in the order the list gave them.
    public private(set) var nodes: [RedisNode]
    /// The ids of the nodes used only when every regular node is down, in the order given, without duplicates.
    public private(set) var failoverNodeIDs: [String]

    /// Parses a Redis node list and its `failoverNodes` companion.
    ///
    /// - Parameters:
    ///   - nodeList: one `redis://[user:password@]host[:port][/db]` URL (`rediss://` for TLS), or
    ///     several as `r1:redis://...,r2:redis://...` separated by commas and/or whitespace (ids are then
    ///     required). The port defaults to 6379 and the database to 0; IPv6 hosts go in brackets
    ///     (`redis://[::1]:6380`); user and password are percent-decoded, and the last `@` ends
    ///     them, so a password may hold any character once `%`, `,` and whitespace are written as
    ///     `%25`, `%2C` and `%20`. An empty user (`redis://:secret@host`) means the default user.
    ///   - failoverNodes: node ids separated by commas and/or whitespace; blank means none.
    /// - Throws: ``RedisNodeListError`` naming the first offending token, password redacted.
    public init(parsing nodeList: String, failoverNodes: String = "") throws(RedisNodeListError) {
        let tokens = Self.tokens(in: nodeList)
        let listHasRedis = tokens.contains(where: Self.isRedisToken)
        do throws(NodeListViolation) {
            try NodeListRules.checkCredentialsWereNotSplit(tokens)
        } catch {
            throw RedisNodeListError(error)
        }
        var entries: [Entry] = []
        for token in tokens {
            let shown = Self.redacted(token)
            entries.append(Entry(node: try Self.parseNode(token, shown: shown, listHasRedis: listHasRedis), token: shown))
        }
        try self.init(validating: entries, failoverNodeIDs: Self.tokens(in: failoverNodes))
    }

    /// Builds a list from nodes made in code, applying the same rules as ``init(parsing:failoverNodes:)``.
    ///
    /// - Throws: ``RedisNodeListError`` whose token is the offending node's ``RedisNode/description``
    ///   or failover id.
    public init(nodes: [RedisNode], failoverNodeIDs: [String] = []) throws(RedisNodeListError) {
        var entries: [Entry] = []
        for var node in nodes {
            if node.username?.isEmpty == true { node.username = nil }
            let token = node.description
            try Self.validate(node, token: token)
            entries.append(Entry(node: node, token: token))
        }
        try self.init(validating: entries, failoverNodeIDs: failoverNodeIDs)
    }

    /// The nodes sessions are normally stored on: every node not named as a failover node, in list order.
    public var regularNodes: [RedisNode] {
        nodes.filter { node in node.id.map { !isFailoverNode(id: $0) } ?? true }
    }

    /// The node a session id's node id points at, or `nil` when no node has that id.
    public func node(id: String) -> RedisNode? {
        nodes.first { $0.id == id }
    }

    /// Whether `id` names a failover node, i.e. one used only while the regular nodes are unavailable.
    public func isFailoverNode(id: String) -> Bool {
        failoverNodeIDs.contains(id)
    }

    /// Whether any entry of `nodeList` is a `redis://` or `rediss://` URL (with or without id), so a
    /// caller holding one node-list setting can pick the Redis or the memcached backend.
    ///
    /// It only looks at schemes: the chosen list's own parser reports what else is wrong.
    public static func looksLikeRedis(_ nodeList: String) -> Bool {
        tokens(in: nodeList).contains(where: isRedisToken)
    }
}

/// Why a Redis node list was rejected; `description` names the offending token and what to write instead.
///
/// Passwords are replaced by `***` in ``token`` and never appear in ``reason``, so the error is
/// safe to log.
public struct RedisNodeListError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The offending token as written but with any password replaced by `***`
    /// (`""` when the problem is the list as a whole).
    public var token: String
    /// What is wrong and what to write instead.
    public var reason: String

    init(token: String, reason: String) {
        self.token = token
        self.reason = reason
    }

    /// A message fit for a startup log: the token quoted (control characters escaped), then the reason.
    public var description: String {
        token.isEmpty
            ? "invalid Redis node list: \(reason)"
            : "invalid Redis node list entry \(token.debugDescription): \(reason)"
    }
}

// MARK: - Parsing

extension RedisNodeList {
    /// A node together with the (redacted) text it came from, so list-level errors can quote the user's own words.
    private struct Entry {
        var node: RedisNode
        var token: String
    }

    private static let example = "redis://127.0.0.1:6379"
    private static let syntax = "redis://[user:password@]host[:port][/db]"

    /// Splits on commas and whitespace in any mix, dropping empty tokens.
    private static func tokens(in list: String) -> [String] {
        NodeListRules.tokens(in: list)
    }

    /// Splits `[id:]scheme://rest` at the first `://`; `nil` when the token has no `://`.
    private static func splitURL(_ token: String) -> (id: String?, scheme: String, rest: Substring)? {
        guard let separator = token.firstRange(of: "://") else { return nil }
        let prefix = token[..<separator.lowerBound]
        let rest = token[separator.upperBound...]
        guard let colon = prefix.lastIndex(of: ":") else {
            return (nil, String(prefix), rest)
        }
        return (String(prefix[..<colon]), String(prefix[prefix.index(after: colon)...]), rest)
    }

    private static func isRedisToken(_ token: String) -> Bool {
        guard let scheme = splitURL(token)?.scheme.lowercased() else { return false }
        return scheme == "redis" || scheme == "rediss"
    }

    /// The token with everything between `://` and the last `@` reduced to `user:***` (or `***`
    /// when there is no `:`), so errors never quote a password. A token without a scheme that
    /// holds an `@` is probably a password split at a comma or space: all before the `@` goes.
    static func redacted(_ token: String) -> String {
        guard let separator = token.firstRange(of: "://") else {
            guard let at = token.lastIndex(of: "@") else { return token }
            return "***" + token[at...]
        }
        let rest = token[separator.upperBound...]
        guard let at = rest.lastIndex(of: "@") else { return token }
        let userinfo = rest[..<at]
        let shownUserinfo = userinfo.firstIndex(of: ":").map { "\(userinfo[..<$0]):***" } ?? "***"
        return token[..<separator.upperBound] + shownUserinfo + token[at...]
    }

    /// Parses one `[id:]redis://[user:password@]host[:port][/db]` token.
    private static func parseNode(
        _ token: String,
        shown: String,
        listHasRedis: Bool
    ) throws(RedisNodeListError) -> RedisNode {
        guard let (id, scheme, rest) = splitURL(token) else {
            throw RedisNodeListError(
                token: shown,
                reason: listHasRedis
                    ? "mixed memcached and Redis nodes in one list are not supported; "
                        + "list only redis:// nodes, or only memcached nodes"
                        + (token.contains("@") ? " (write ',' and whitespace in passwords as %2C and %20)" : "")
                    : "not a Redis URL; write \(syntax), e.g. \(example), or r1:redis://...,r2:redis://... "
                        + "for several nodes (host:port entries name memcached nodes)"
            )
        }
        let usesTLS: Bool
        switch scheme.lowercased() {
        case "redis":
            usesTLS = false
        case "rediss":
            usesTLS = true
        default:
            throw RedisNodeListError(
                token: shown,
                reason: "unsupported scheme '\(scheme)://'; write \(syntax), e.g. \(example)"
            )
        }
        var node = RedisNode(id: id, host: "", port: RedisNode.defaultPort, usesTLS: usesTLS)
        if let id {
            do throws(NodeListViolation) { try NodeListRules.checkID(id, token: shown, style: style) } catch { throw RedisNodeListError(error) }
        }

        var remainder = rest
        if let at = rest.lastIndex(of: "@") {
            (node.username, node.password) = try parseCredentials(rest[..<at], token: shown)
            remainder = rest[rest.index(after: at)...]
        }
        if let mark = remainder.firstIndex(where: { $0 == "?" || $0 == "#" }) {
            throw RedisNodeListError(
                token: shown,
                reason: remainder[mark] == "?"
                    ? "query strings ('?...') are not supported; write \(syntax) and set other options separately"
                    : "fragments ('#...') are not supported; write \(syntax)"
            )
        }
        var hostPort = remainder
        if let slash = remainder.firstIndex(of: "/") {
            hostPort = remainder[..<slash]
            node.database = try parseDatabase(remainder[remainder.index(after: slash)...], token: shown)
        }
        (node.host, node.port) = try parseHostPort(hostPort, token: shown)
        try validate(node, token: shown)
        return node
    }

    /// `user:password` (either part percent-encoded; user may be empty) into its decoded parts.
    private static func parseCredentials(
        _ userinfo: Substring,
        token: String
    ) throws(RedisNodeListError) -> (username: String?, password: RedisPassword?) {
        guard let colon = userinfo.firstIndex(of: ":") else {
            throw RedisNodeListError(
                token: token,
                reason: userinfo.isEmpty
                    ? "nothing before '@'; write redis://:password@host for a password, or drop the '@'"
                    : "credentials need a ':'; write redis://user:password@host, or redis://:password@host "
                        + "for the default user"
            )
        }
        let user = try percentDecoded(userinfo[..<colon], what: "username", token: token)
        let password = try percentDecoded(userinfo[userinfo.index(after: colon)...], what: "password", token: token)
        return (user.isEmpty ? nil : user, RedisPassword(password))
    }

    /// Decodes `%XX` escapes; a `%` not followed by two hex digits, or bytes that are not UTF-8, are errors.
    private static func percentDecoded(
        _ text: Substring,
        what: String,
        token: String
    ) throws(RedisNodeListError) -> String {
        var bytes: [UInt8] = []
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = utf8.next().flatMap(hexValue), let low = utf8.next().flatMap(hexValue) else {
                throw RedisNodeListError(
                    token: token,
                    reason: "the \(what) has a '%' not followed by two hex digits; write '%' itself as %25"
                )
            }
            bytes.append(high << 4 | low)
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw RedisNodeListError(token: token, reason: "the \(what)'s percent escapes do not decode to UTF-8 text")
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
    private static func parseDatabase(_ text: Substring, token: String) throws(RedisNodeListError) -> Int {
        if text.isEmpty { return 0 }
        if text.contains("/") {
            throw RedisNodeListError(
                token: token,
                reason: "nothing may follow the database number; write \(syntax), e.g. \(example)/1"
            )
        }
        guard text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
            throw RedisNodeListError(
                token: token,
                reason: "database '\(text)' is not a non-negative decimal number; write e.g. \(example)/1"
            )
        }
        guard let database = Int(text) else {
            throw RedisNodeListError(token: token, reason: "database '\(text)' is too large; write e.g. \(example)/1")
        }
        return database
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; the port defaults to 6379.
    private static func parseHostPort(_ text: Substring, token: String) throws(RedisNodeListError) -> (String, Int) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw bracketError(token) }
            let host = text[text.index(after: text.startIndex)..<close]
            guard !host.isEmpty else {
                throw RedisNodeListError(token: token, reason: "empty IPv6 address in brackets; write e.g. redis://[::1]:6379")
            }
            guard host.contains(":") else {
                throw RedisNodeListError(
                    token: token,
                    reason: "brackets are only for IPv6 addresses; write '\(host)' without brackets"
                )
            }
            let after = text[text.index(after: close)...]
            if after.isEmpty { return (String(host), RedisNode.defaultPort) }
            guard after.hasPrefix(":") else { throw bracketError(token) }
            return (String(host), try parsePort(after.dropFirst(), token: token))
        }
        if text.contains("[") || text.contains("]") { throw bracketError(token) }
        let colons = text.count(where: { $0 == ":" })
        if colons > 1 {
            throw RedisNodeListError(
                token: token,
                reason: "too many ':' in host:port; IPv6 hosts must be in brackets, e.g. redis://[::1]:6379"
            )
        }
        guard let colon = text.firstIndex(of: ":") else { return (String(text), RedisNode.defaultPort) }
        return (String(text[..<colon]), try parsePort(text[text.index(after: colon)...], token: token))
    }

    private static func bracketError(_ token: String) -> RedisNodeListError {
        RedisNodeListError(
            token: token,
            reason: "unbalanced or misplaced brackets; write IPv6 hosts as redis://[::1]:6379"
        )
    }

    /// Accepts only plain ASCII decimal digits; the range is checked by `validate`.
    private static func parsePort(_ text: Substring, token: String) throws(RedisNodeListError) -> Int {
        guard !text.isEmpty else {
            throw RedisNodeListError(token: token, reason: "missing port after ':'; write e.g. \(example), or drop the ':'")
        }
        guard text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), let port = Int(text) else {
            throw RedisNodeListError(
                token: token,
                reason: "port '\(text)' is not a decimal number; write a port in 1...65535, e.g. \(example)"
            )
        }
        return port
    }
}

// MARK: - Validation

extension RedisNodeList {
    private static let style = NodeListStyle(
        serverName: "Redis",
        entrySyntax: "id:redis://host:port",
        exampleID: "r1",
        example: example,
        exampleWithID: "r1:" + example,
        forbiddenHostCharacters: ",[]/?#@",
        duplicateAddressReason: "this host, port and database are already in the list; name every Redis database once",
        shownID: redacted
    )

    /// The per-node rules shared by both initialisers.
    private static func validate(_ node: RedisNode, token: String) throws(RedisNodeListError) {
        do throws(NodeListViolation) {
            if let id = node.id { try NodeListRules.checkID(id, token: token, style: style) }
            try NodeListRules.checkHost(node.host, token: token, style: style)
            try NodeListRules.checkPort(node.port, token: token, style: style)
        } catch {
            throw RedisNodeListError(error)
        }
        guard node.database >= 0 else {
            throw RedisNodeListError(
                token: token,
                reason: "database \(node.database) is negative; write a database number from 0, e.g. \(example)/1"
            )
        }
        if let password = node.password, password.reveal().isEmpty {
            throw RedisNodeListError(
                token: token,
                reason: "empty password; write redis://user:password@host, or no credentials when the server needs none"
            )
        }
        if node.username != nil, node.password == nil {
            throw RedisNodeListError(
                token: token,
                reason: "a username needs a password; write redis://user:password@host"
            )
        }
    }

    /// The list-level rules: ids when there are several nodes, no duplicates, sane failover nodes.
    private init(validating entries: [Entry], failoverNodeIDs: [String]) throws(RedisNodeListError) {
        let listed = entries.map {
            NodeListEntry(
                id: $0.node.id,
                address: "\($0.node.host.lowercased()):\($0.node.port)/\($0.node.database)",
                token: $0.token,
                description: $0.node.description
            )
        }
        do throws(NodeListViolation) {
            self.failoverNodeIDs = try NodeListRules.checkList(listed, failoverIDs: failoverNodeIDs, style: Self.style)
        } catch {
            throw RedisNodeListError(error)
        }
        self.nodes = entries.map(\.node)
    }
}

extension RedisNodeListError {
    init(_ violation: NodeListViolation) {
        self.init(token: violation.token, reason: violation.reason)
    }
}
