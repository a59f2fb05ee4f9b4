/// One node's server address as a store module reads it from msm's node list: `host:port` for
/// memcached (`MemcachedServer`), a `redis://` URL for Redis (`RedisServer`).
///
/// The node list itself (ids, separators, failover nodes, duplicates) is the same for every store
/// and lives in ``SessionNodeList``; a store only says how one address is written.
public protocol SessionNodeAddress: Sendable, Hashable, CustomStringConvertible {
    /// How messages name the servers: `memcached`, `Redis`.
    static var serverName: String { get }
    /// How one entry with id is written, for messages: `id:host:port`.
    static var entrySyntax: String { get }
    /// One entry with id, for messages: `m1:127.0.0.1:11211`.
    static var exampleEntry: String { get }
    /// Why naming one server twice is refused.
    static var duplicateReason: String { get }
    /// Whether addresses are URLs (`redis://...`) rather than `host:port`: a list mixing both
    /// is refused naming the first entry of the wrong kind.
    static var addressesAreURLs: Bool { get }

    /// Parses the address part of an entry (what follows `id:`).
    /// - Throws: what is wrong and what to write instead; the list adds the entry it came from.
    init(nodeListAddress: String) throws(SessionNodeListError.Reason)

    /// What makes two entries the same server (lower-cased host and port, database...).
    var serverIdentity: String { get }

    /// Checks an address made in code (``SessionNodeList/init(nodes:failoverNodeIDs:)``) by the
    /// rules parsing applies.
    func validateAddress() throws(SessionNodeListError.Reason)
}

/// Why a node list was rejected; ``description`` names the offending entry and what to write instead.
public struct SessionNodeListError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What an address parser says is wrong, before the list adds the entry it came from.
    public struct Reason: Error, Sendable, Hashable {
        /// What is wrong and what to write instead.
        public var text: String
        /// Creates a reason.
        public init(_ text: String) { self.text = text }
    }

    /// The offending entry as written, credentials hidden (`""` when the list as a whole is wrong).
    public var token: String
    /// What is wrong and what to write instead.
    public var reason: String
    /// Whose list it is: `memcached`, `Redis`.
    public var serverName: String

    /// Creates an error.
    public init(token: String, reason: String, serverName: String) {
        self.token = token
        self.reason = reason
        self.serverName = serverName
    }

    /// A message fit for a startup log: the entry quoted (control characters escaped), then the reason.
    public var description: String {
        token.isEmpty
            ? "invalid \(serverName) node list: \(reason)"
            : "invalid \(serverName) node list entry \(token.debugDescription): \(reason)"
    }
}

/// msm's `memcachedNodes` + `failoverNodes`, parsed: which nodes hold sessions, under which ids
/// (the ids session ids carry), and which are failover nodes, for any store whose addresses
/// `Address` reads.
///
/// ```swift
/// let list = try SessionNodeList<MemcachedServer>(parsing: "m1:10.0.0.1:11211,m2:10.0.0.2:11211", failoverNodes: "m1")
/// ```
///
/// Entries are `id:address`, separated by commas and/or whitespace; a list of exactly one entry
/// may omit the id. Ids are letters, digits and `_` (msm's `\w+`: `-` and `.` would break the
/// `<random>-<id>.<route>` session id). Parsing up front turns a typo into one clear error at
/// startup instead of sessions landing on the wrong server (or none) at runtime.
public struct SessionNodeList<Address: SessionNodeAddress>: Sendable, Hashable {
    /// One node: its id and its server.
    public struct Node: Sendable, Hashable, CustomStringConvertible {
        /// The id carried in session ids; `nil` for a single node listed without id.
        public var id: String?
        /// The server.
        public var address: Address

        /// Makes a node without validating it; ``SessionNodeList/init(nodes:failoverNodeIDs:)`` validates.
        public init(id: String?, address: Address) {
            self.id = id
            self.address = address
        }

        /// The node in list syntax (`m1:127.0.0.1:11211`), credentials hidden as its address hides them.
        public var description: String { id.map { "\($0):\(address)" } ?? "\(address)" }
    }

    /// Every node, in the order the list gave them.
    public private(set) var nodes: [Node]
    /// The ids of the nodes used only while every regular node is down, in the order given, without repeats.
    public private(set) var failoverNodeIDs: [String]

    /// Parses msm's node list syntax and its `failoverNodes` companion.
    /// - Parameters:
    ///   - nodeList: `id:address` entries separated by commas and/or whitespace.
    ///   - failoverNodes: node ids separated by commas and/or whitespace; blank means none.
    /// - Throws: ``SessionNodeListError`` naming the first offending entry.
    public init(parsing nodeList: String, failoverNodes: String = "") throws(SessionNodeListError) {
        let tokens = SessionNodeListSyntax.tokens(in: nodeList)
        try Self.checkCredentialsWereNotSplit(tokens)
        try Self.checkNotMixed(tokens)
        var entries: [Entry] = []
        for token in tokens {
            let shown = SessionNodeListSyntax.redactingCredentials(token)
            let (id, address) = SessionNodeListSyntax.splitID(token)
            if let id { try Self.checkID(id, token: shown) }
            do throws(SessionNodeListError.Reason) {
                entries.append(Entry(node: Node(id: id, address: try Address(nodeListAddress: address)), token: shown))
            } catch {
                throw Self.error(shown, error.text)
            }
        }
        try self.init(validating: entries, failoverNodeIDs: SessionNodeListSyntax.tokens(in: failoverNodes))
    }

    /// A list from nodes made in code, under the same rules as ``init(parsing:failoverNodes:)``.
    /// - Throws: ``SessionNodeListError`` naming the offending node (its description) or failover id.
    public init(nodes: [Node], failoverNodeIDs: [String] = []) throws(SessionNodeListError) {
        var entries: [Entry] = []
        for node in nodes {
            if let id = node.id { try Self.checkID(id, token: node.description) }
            do throws(SessionNodeListError.Reason) {
                try node.address.validateAddress()
            } catch {
                throw Self.error(node.description, error.text)
            }
            entries.append(Entry(node: node, token: node.description))
        }
        try self.init(validating: entries, failoverNodeIDs: failoverNodeIDs)
    }

    /// Whether `id` names a failover node.
    public func isFailoverNode(id: String) -> Bool {
        failoverNodeIDs.contains(id)
    }

    /// The nodes sessions normally live on: every node that is not a failover node, in list order.
    public var regularNodes: [Node] {
        nodes.filter { node in node.id.map { !isFailoverNode(id: $0) } ?? true }
    }

    /// The node with this id, if any.
    public func node(id: String) -> Node? {
        nodes.first { $0.id == id }
    }

    /// The session manager's view of the nodes: ids and failover marking, with each node's store
    /// operations (a store module's client for that server), one per node in list order.
    public func topology(stores: [any SessionStoreNode]) -> SessionStoreTopology {
        precondition(stores.count == nodes.count, "one store per node: \(stores.count) for \(nodes.count) nodes")
        return SessionStoreTopology(
            nodes: zip(nodes, stores).map { node, store in
                .init(id: node.id, isFailover: node.id.map(isFailoverNode(id:)) ?? false, store: store)
            })
    }
}

// MARK: - Rules

extension SessionNodeList {
    /// A node with the (redacted) text it came from, so list-level errors quote the user's own words.
    private struct Entry {
        var node: Node
        var token: String
    }

    private static var exampleID: String { String(Address.exampleEntry.prefix { $0 != ":" }) }

    private static func error(_ token: String, _ reason: String) -> SessionNodeListError {
        SessionNodeListError(token: token, reason: reason, serverName: Address.serverName)
    }

    /// A URL's credentials cut apart by an unencoded ',' or whitespace leave a piece with '@' but
    /// no scheme. Checked before any entry is parsed: the URL's first half, password prefix
    /// included, has no '@' left to redact and would otherwise be quoted by whatever error it causes.
    private static func checkCredentialsWereNotSplit(_ tokens: [String]) throws(SessionNodeListError) {
        guard tokens.contains(where: { $0.contains("://") }),
            tokens.contains(where: { !$0.contains("://") && $0.contains("@") })
        else { return }
        throw error(
            "",
            "a URL's user or password holds an unencoded ',' or whitespace, which separate list entries; "
                + "write them as %2C and %20 (the entries are not quoted here, to keep the password out of logs)"
        )
    }

    /// One list, one kind of store: URLs (Redis) and `host:port` entries (memcached) do not mix.
    /// (A list of only the other kind is for the address parser to explain.)
    private static func checkNotMixed(_ tokens: [String]) throws(SessionNodeListError) {
        let urls = tokens.filter { $0.contains("://") }
        guard !urls.isEmpty, urls.count < tokens.count,
            let other = tokens.first(where: { $0.contains("://") != Address.addressesAreURLs })
        else { return }
        throw error(
            SessionNodeListSyntax.redactingCredentials(other),
            "mixed memcached and Redis nodes in one list are not supported; list only redis:// nodes "
                + "(a list of only redis:// URLs selects Redis), or only memcached nodes such as m1:127.0.0.1:11211"
        )
    }

    /// Ids are msm's `\w+`; '-' and '.' would break the `<random>-<id>.<route>` session id format.
    private static func checkID(_ id: String, token: String) throws(SessionNodeListError) {
        guard !id.isEmpty else {
            throw error(token, "empty node id; write \(Address.entrySyntax), e.g. \(Address.exampleEntry)")
        }
        if id.contains("-") || id.contains(".") {
            throw error(
                token,
                "node id '\(id)' contains '-' or '.', which delimit the node id inside session ids "
                    + "(<random>-<id>.<jvmRoute>); use only letters, digits and '_', e.g. \(exampleID)"
            )
        }
        guard SessionID.isValidNodeID(id) else {
            throw error(token, "node id '\(id)' may contain only ASCII letters, digits and '_' (at most 64), e.g. \(exampleID)")
        }
    }

    /// At least one node, ids when there are several, no id or server twice, failover ids that
    /// name listed nodes and leave one regular node.
    private init(validating entries: [Entry], failoverNodeIDs: [String]) throws(SessionNodeListError) {
        guard !entries.isEmpty else {
            throw Self.error("", "no \(Address.serverName) node given; write e.g. \(Address.exampleEntry)")
        }
        if entries.count > 1, let entry = entries.first(where: { $0.node.id == nil }) {
            throw Self.error(
                entry.token,
                "every node needs an id when the list has \(entries.count) nodes; "
                    + "write \(Address.entrySyntax), e.g. \(Self.exampleID):\(entry.node.address)"
            )
        }
        var ids: Set<String> = []
        var servers: Set<String> = []
        for entry in entries {
            if let id = entry.node.id, !ids.insert(id).inserted {
                throw Self.error(entry.token, "node id '\(id)' is used twice; give every node its own id")
            }
            if !servers.insert(entry.node.address.serverIdentity).inserted {
                throw Self.error(entry.token, Address.duplicateReason)
            }
        }
        self.nodes = entries.map(\.node)
        self.failoverNodeIDs = try Self.checkFailover(failoverNodeIDs, nodeIDs: nodes.map(\.id))
    }

    private static func checkFailover(_ ids: [String], nodeIDs: [String?]) throws(SessionNodeListError) -> [String] {
        var unique: [String] = []
        for id in ids where !unique.contains(id) {
            unique.append(id)
        }
        guard let first = unique.first else { return [] }
        guard nodeIDs.count > 1 else {
            throw error(
                SessionNodeListSyntax.redactingCredentials(first),
                "failover nodes need at least two nodes; leave failoverNodes empty for a single node"
            )
        }
        let known = nodeIDs.compactMap { $0 }
        if let unknown = unique.first(where: { !known.contains($0) }) {
            let shown = SessionNodeListSyntax.redactingCredentials(unknown)
            throw error(shown, "no node has id '\(shown)'; known ids: \(known.joined(separator: ", "))")
        }
        guard unique.count < nodeIDs.count else {
            throw error(
                "",
                "at least one node must not be a failover node; remove one of \(unique.joined(separator: ", ")) from failoverNodes"
            )
        }
        return unique
    }
}

/// The text rules of node lists every store shares.
public enum SessionNodeListSyntax {
    /// Splits on commas and whitespace in any mix, dropping empty tokens.
    public static func tokens(in list: String) -> [String] {
        list.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
    }

    /// Whether a node list names Redis nodes (`redis://` or `rediss://` URLs) rather than memcached
    /// `host:port` nodes: how `msm serve` picks its store.
    public static func namesURLs(_ list: String) -> Bool {
        tokens(in: list).first?.contains("://") ?? false
    }

    /// `[id:]address`: for a URL the id precedes the scheme (`r1:redis://...`); for `host:port`
    /// the id precedes a second ':' outside IPv6 brackets (`m1:[::1]:11211`).
    static func splitID(_ token: String) -> (id: String?, address: String) {
        if let separator = token.firstRange(of: "://") {
            let prefix = token[..<separator.lowerBound]
            guard let colon = prefix.lastIndex(of: ":") else { return (nil, token) }
            return (String(prefix[..<colon]), String(token[token.index(after: colon)...]))
        }
        var insideBrackets = false
        var colons: [String.Index] = []
        for index in token.indices {
            switch token[index] {
            case "[": insideBrackets = true
            case "]": insideBrackets = false
            case ":" where !insideBrackets: colons.append(index)
            default: continue
            }
        }
        guard colons.count >= 2 else { return (nil, token) }
        return (String(token[..<colons[0]]), String(token[token.index(after: colons[0])...]))
    }

    /// `token` as an error may quote it: everything between `://` and the last `@` becomes
    /// `user:***` (or `***` without a `:`). A token without a scheme that holds an `@` is probably
    /// a password split at a comma or space: everything before the `@` goes.
    public static func redactingCredentials(_ token: String) -> String {
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
}
