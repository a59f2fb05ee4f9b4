import NodeListRules

/// One memcached server named in a node list.
///
/// msm writes the node's id into every session id (`<random>-<id>.<jvmRoute>`), so the id is how a
/// request finds the server that holds its session again.
public struct MemcachedNode: Sendable, Hashable, CustomStringConvertible {
    /// The node id carried in session ids (msm's memcachedId); `nil` when the list is a single `host:port`.
    public var id: String?
    /// The host name or address to connect to; an IPv6 literal is stored without brackets, e.g. `::1`.
    public var host: String
    /// The TCP port memcached listens on, 1...65535 in a validated list.
    public var port: Int

    /// Makes a node without validating it; ``MemcachedNodeList`` validates nodes it is given.
    public init(id: String?, host: String, port: Int) {
        self.id = id
        self.host = host
        self.port = port
    }

    /// The node in node-list syntax (`m1:127.0.0.1:11211`, `[::1]:11211`), so a list of
    /// descriptions joined by commas parses back to the same nodes.
    public var description: String {
        let hostPart = host.contains(":") ? "[\(host)]" : host
        let idPart = id.map { "\($0):" } ?? ""
        return "\(idPart)\(hostPart):\(port)"
    }
}

/// A parsed msm `memcachedNodes` + `failoverNodes` pair.
///
/// Parsing up front turns a typo in the configuration into one clear error at startup instead of
/// sessions silently landing on the wrong server (or none) at runtime.
public struct MemcachedNodeList: Sendable, Hashable {
    /// Every node, in the order the list gave them.
    public private(set) var nodes: [MemcachedNode]
    /// The ids of the nodes used only when every regular node is down, in the order given, without duplicates.
    public private(set) var failoverNodeIDs: [String]

    /// Parses msm's `memcachedNodes` syntax and its `failoverNodes` companion.
    ///
    /// - Parameters:
    ///   - nodeList: `id:host:port` entries separated by commas and/or whitespace, e.g.
    ///     `m1:10.0.0.1:11211, m2:10.0.0.2:11211`; a list of exactly one entry may omit the id
    ///     (`localhost:11211`). IPv6 hosts go in brackets: `m1:[::1]:11211`.
    ///   - failoverNodes: node ids separated by commas and/or whitespace; blank means none.
    /// - Throws: ``MemcachedNodeListError`` naming the first offending token.
    public init(parsing nodeList: String, failoverNodes: String = "") throws(MemcachedNodeListError) {
        let tokens = Self.tokens(in: nodeList)
        do throws(NodeListViolation) {
            try NodeListRules.checkCredentialsWereNotSplit(tokens)
        } catch {
            throw MemcachedNodeListError(error)
        }
        var entries: [Entry] = []
        for token in tokens {
            entries.append(Entry(node: try Self.parseNode(token), token: token))
        }
        try self.init(validating: entries, failoverNodeIDs: Self.tokens(in: failoverNodes))
    }

    /// Builds a list from nodes made in code, applying the same rules as ``init(parsing:failoverNodes:)``.
    ///
    /// - Throws: ``MemcachedNodeListError`` whose token is the offending node's ``MemcachedNode/description``
    ///   or failover id.
    public init(nodes: [MemcachedNode], failoverNodeIDs: [String] = []) throws(MemcachedNodeListError) {
        var entries: [Entry] = []
        for node in nodes {
            let token = node.description
            try Self.validate(node, token: token)
            entries.append(Entry(node: node, token: token))
        }
        try self.init(validating: entries, failoverNodeIDs: failoverNodeIDs)
    }

    /// The nodes sessions are normally stored on: every node not named as a failover node, in list order.
    public var regularNodes: [MemcachedNode] {
        nodes.filter { node in node.id.map { !isFailoverNode(id: $0) } ?? true }
    }

    /// The node a session id's memcachedId points at, or `nil` when no node has that id.
    public func node(id: String) -> MemcachedNode? {
        nodes.first { $0.id == id }
    }

    /// Whether `id` names a failover node, i.e. one used only while the regular nodes are unavailable.
    public func isFailoverNode(id: String) -> Bool {
        failoverNodeIDs.contains(id)
    }
}

/// Why a node list was rejected; `description` names the offending token and what to write instead.
public struct MemcachedNodeListError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The offending token, exactly as written (`""` when the problem is the list as a whole).
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
            ? "invalid memcached node list: \(reason)"
            : "invalid memcached node list entry \(token.debugDescription): \(reason)"
    }
}

// MARK: - Parsing

extension MemcachedNodeList {
    /// A node together with the text it came from, so list-level errors can quote the user's own words.
    private struct Entry {
        var node: MemcachedNode
        var token: String
    }

    private static let example = "m1:127.0.0.1:11211"
    private static let urlSchemes = ["redis://", "rediss://", "http://"]

    /// Splits on commas and whitespace in any mix, dropping empty tokens.
    private static func tokens(in list: String) -> [String] {
        NodeListRules.tokens(in: list)
    }

    /// Parses one `id:host:port` / `host:port` token, IPv6 hosts in brackets, reading from the right.
    private static func parseNode(_ token: String) throws(MemcachedNodeListError) -> MemcachedNode {
        try rejectURL(token)
        try checkBrackets(token)
        guard let portColon = lastColonOutsideBrackets(in: token) else {
            throw MemcachedNodeListError(
                token: token,
                reason: "missing port; write id:host:port (e.g. \(example)) or, for a single node, host:port"
            )
        }
        let port = try parsePort(String(token[token.index(after: portColon)...]), token: token)
        let (id, host) = try splitIDAndHost(String(token[..<portColon]), token: token)
        let node = MemcachedNode(id: id, host: host, port: port)
        try validate(node, token: token)
        return node
    }

    /// URLs are not memcached nodes; say what they select instead rather than "bad port". A list
    /// of `redis://` URLs selects the Redis backend, so one among memcached nodes is a mixed list.
    private static func rejectURL(_ token: String) throws(MemcachedNodeListError) {
        // The scheme may follow an id (`r1:redis://...`); it ends at the first "://".
        guard let separator = token.firstRange(of: "://") else { return }
        let prefix = token[..<separator.lowerBound].lowercased()
        let scheme = (prefix.lastIndex(of: ":").map { String(prefix[prefix.index(after: $0)...]) } ?? prefix) + "://"
        guard urlSchemes.contains(scheme) else { return }
        guard scheme != "http://" else {
            throw MemcachedNodeListError(
                token: token,
                reason: "'http://' URLs are not accepted here: this list names memcached nodes only; "
                    + "write id:host:port, e.g. \(example)"
            )
        }
        throw MemcachedNodeListError(
            token: redactingCredentials(token),
            reason: "'\(scheme)' URLs name Redis nodes, and this list names memcached nodes only: "
                + "mixed memcached and Redis nodes in one list are not supported; list only redis:// nodes "
                + "(a list of only redis:// URLs selects Redis), or only memcached nodes such as \(example)"
        )
    }

    /// A Redis URL's password must not reach a log: everything between `://` and the last `@` goes.
    private static func redactingCredentials(_ token: String) -> String {
        guard let separator = token.firstRange(of: "://"), let at = token.lastIndex(of: "@"), at >= separator.upperBound
        else { return token }
        return token[..<separator.upperBound] + "***" + token[at...]
    }

    /// Requires brackets to come in single, unnested `[` `]` pairs.
    private static func checkBrackets(_ token: String) throws(MemcachedNodeListError) {
        var open = false
        for character in token {
            switch character {
            case "[" where !open: open = true
            case "]" where open: open = false
            case "[", "]":
                throw bracketError(token)
            default: continue
            }
        }
        if open { throw bracketError(token) }
    }

    private static func bracketError(_ token: String) -> MemcachedNodeListError {
        MemcachedNodeListError(
            token: token,
            reason: "unbalanced or misplaced brackets; write IPv6 hosts as [::1]:11211 or m1:[::1]:11211"
        )
    }

    /// The last `:` not inside `[...]`; the port follows it.
    private static func lastColonOutsideBrackets(in token: String) -> String.Index? {
        var inside = false
        var found: String.Index?
        for index in token.indices {
            switch token[index] {
            case "[": inside = true
            case "]": inside = false
            case ":" where !inside: found = index
            default: continue
            }
        }
        return found
    }

    /// Accepts only plain ASCII decimal digits in 1...65535.
    private static func parsePort(_ text: String, token: String) throws(MemcachedNodeListError) -> Int {
        guard !text.isEmpty else {
            throw MemcachedNodeListError(token: token, reason: "missing port after the last ':'; write e.g. \(example)")
        }
        guard text.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), let port = Int(text) else {
            throw MemcachedNodeListError(
                token: token,
                reason: "port '\(text)' is not a decimal number; write a port in 1...65535, e.g. \(example)"
            )
        }
        return port  // range checked by `validate`
    }

    /// Splits what precedes the port into an optional id and a host (brackets removed).
    private static func splitIDAndHost(
        _ text: String,
        token: String
    ) throws(MemcachedNodeListError) -> (id: String?, host: String) {
        if text.hasSuffix("]") {
            return try splitBracketed(text, token: token)
        }
        if text.contains("[") || text.contains("]") {
            throw bracketError(token)
        }
        guard let colon = text.lastIndex(of: ":") else {
            return (nil, text)
        }
        let id = String(text[..<colon])
        if id.contains(":") {
            throw MemcachedNodeListError(
                token: token,
                reason: "too many ':' for id:host:port; IPv6 hosts must be in brackets, e.g. m1:[::1]:11211"
            )
        }
        return (id, String(text[text.index(after: colon)...]))
    }

    /// Handles `[v6]` and `id:[v6]`.
    private static func splitBracketed(
        _ text: String,
        token: String
    ) throws(MemcachedNodeListError) -> (id: String?, host: String) {
        guard let open = text.lastIndex(of: "[") else { throw bracketError(token) }
        let host = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
        guard !host.isEmpty else {
            throw MemcachedNodeListError(token: token, reason: "empty IPv6 address in brackets; write e.g. [::1]:11211")
        }
        guard host.contains(":") else {
            throw MemcachedNodeListError(
                token: token,
                reason: "brackets are only for IPv6 addresses; write '\(host)' without brackets"
            )
        }
        let prefix = text[..<open]
        if prefix.isEmpty { return (nil, host) }
        guard prefix.hasSuffix(":") else { throw bracketError(token) }
        return (String(prefix.dropLast()), host)
    }
}

// MARK: - Validation

extension MemcachedNodeList {
    private static let style = NodeListStyle(
        serverName: "memcached",
        entrySyntax: "id:host:port",
        exampleID: "m1",
        example: example,
        exampleWithID: example,
        forbiddenHostCharacters: ",[]",
        duplicateAddressReason: "this host and port are already in the list; name every memcached server once"
    )

    /// The per-node rules shared by both initialisers.
    private static func validate(_ node: MemcachedNode, token: String) throws(MemcachedNodeListError) {
        do throws(NodeListViolation) {
            if let id = node.id { try NodeListRules.checkID(id, token: token, style: style) }
            try NodeListRules.checkHost(node.host, token: token, style: style)
            try NodeListRules.checkPort(node.port, token: token, style: style)
        } catch {
            throw MemcachedNodeListError(error)
        }
    }

    /// The list-level rules: ids when there are several nodes, no duplicates, sane failover nodes.
    private init(validating entries: [Entry], failoverNodeIDs: [String]) throws(MemcachedNodeListError) {
        let listed = entries.map {
            NodeListEntry(id: $0.node.id, address: "\($0.node.host.lowercased()):\($0.node.port)", token: $0.token, description: $0.node.description)
        }
        do throws(NodeListViolation) {
            self.failoverNodeIDs = try NodeListRules.checkList(listed, failoverIDs: failoverNodeIDs, style: Self.style)
        } catch {
            throw MemcachedNodeListError(error)
        }
        self.nodes = entries.map(\.node)
    }
}

extension MemcachedNodeListError {
    init(_ violation: NodeListViolation) {
        self.init(token: violation.token, reason: violation.reason)
    }
}
