/// A node-list rule broken: the offending token and what to write instead. Each client wraps it
/// in its own public error type (`MemcachedNodeListError`, `RedisNodeListError`).
package struct NodeListViolation: Error, Sendable {
    /// The offending token as the user should see it (`""` for the list as a whole).
    package var token: String
    /// What is wrong and what to write instead.
    package var reason: String

    package init(token: String, reason: String) {
        self.token = token
        self.reason = reason
    }
}

/// The wording that differs between the memcached and the Redis node lists.
package struct NodeListStyle: Sendable {
    /// `memcached`, `Redis`.
    package var serverName: String
    /// How one entry with id is written: `id:host:port`, `id:redis://...`.
    package var entrySyntax: String
    /// An id for examples: `m1`, `r1`.
    package var exampleID: String
    /// A whole entry for examples: `m1:127.0.0.1:11211`, `redis://127.0.0.1:6379`.
    package var example: String
    /// An entry with id for examples: `m1:127.0.0.1:11211`, `r1:redis://127.0.0.1:6379`.
    package var exampleWithID: String
    /// Characters besides whitespace and controls a host may not hold.
    package var forbiddenHostCharacters: String
    /// Why a repeated address is refused (`"this host and port are already in the list; ..."`).
    package var duplicateAddressReason: String
    /// How a failover id is shown in errors (Redis hides anything that looks like credentials).
    package var shownID: @Sendable (String) -> String

    package init(
        serverName: String,
        entrySyntax: String,
        exampleID: String,
        example: String,
        exampleWithID: String,
        forbiddenHostCharacters: String,
        duplicateAddressReason: String,
        shownID: @escaping @Sendable (String) -> String = { $0 }
    ) {
        self.serverName = serverName
        self.entrySyntax = entrySyntax
        self.exampleID = exampleID
        self.example = example
        self.exampleWithID = exampleWithID
        self.forbiddenHostCharacters = forbiddenHostCharacters
        self.duplicateAddressReason = duplicateAddressReason
        self.shownID = shownID
    }
}

/// One parsed entry as the list-level rules see it.
package struct NodeListEntry: Sendable {
    package var id: String?
    /// What makes two entries the same server (`host:port`, `host:port/db`), lower-cased host.
    package var address: String
    /// The user's own words (redacted), quoted in errors.
    package var token: String
    /// The node in list syntax, for "write e.g. ..." advice.
    package var description: String

    package init(id: String?, address: String, token: String, description: String) {
        self.id = id
        self.address = address
        self.token = token
        self.description = description
    }
}

/// msm's node-list rules, shared by the memcached and Redis lists so both backends accept and
/// refuse the same things with the same words.
package enum NodeListRules {
    /// Splits on commas and whitespace in any mix, dropping empty tokens.
    package static func tokens(in list: String) -> [String] {
        list.split(whereSeparator: { $0 == "," || $0.isWhitespace }).map(String.init)
    }

    /// Refuses a list in which a URL's credentials were cut apart by an unencoded ',' or
    /// whitespace (a piece with '@' but no scheme follows the URL's first half). It runs before any
    /// token is parsed, because the first half, password prefix included, has no '@' left to
    /// redact and would otherwise be quoted by whatever error it causes.
    package static func checkCredentialsWereNotSplit(_ tokens: [String]) throws(NodeListViolation) {
        guard tokens.contains(where: { $0.contains("://") }),
            tokens.contains(where: { !$0.contains("://") && $0.contains("@") })
        else { return }
        throw NodeListViolation(
            token: "",
            reason: "a URL's user or password holds an unencoded ',' or whitespace, which separate list entries; "
                + "write them as %2C and %20 (the entries are not quoted here, to keep the password out of logs)"
        )
    }

    /// Ids are msm's `\w+`; '-' and '.' would break the `<random>-<id>.<jvmRoute>` session id format.
    package static func checkID(_ id: String, token: String, style: NodeListStyle) throws(NodeListViolation) {
        guard !id.isEmpty else {
            throw NodeListViolation(token: token, reason: "empty node id; write \(style.entrySyntax), e.g. \(style.exampleWithID)")
        }
        if id.contains("-") || id.contains(".") {
            throw NodeListViolation(
                token: token,
                reason: "node id '\(id)' contains '-' or '.', which delimit the node id inside session ids "
                    + "(<random>-<id>.<jvmRoute>); use only letters, digits and '_', e.g. \(style.exampleID)"
            )
        }
        guard id.unicodeScalars.allSatisfy(isWordScalar) else {
            throw NodeListViolation(
                token: token,
                reason: "node id '\(id)' may contain only ASCII letters, digits and '_', e.g. \(style.exampleID)"
            )
        }
    }

    /// Hosts must be non-empty and free of characters the list syntax or a resolver cannot carry.
    package static func checkHost(_ host: String, token: String, style: NodeListStyle) throws(NodeListViolation) {
        guard !host.isEmpty else {
            throw NodeListViolation(token: token, reason: "empty host; write \(style.entrySyntax), e.g. \(style.example)")
        }
        let forbidden = host.unicodeScalars.first { scalar in
            scalar.properties.isWhitespace || scalar.properties.generalCategory == .control
                || style.forbiddenHostCharacters.unicodeScalars.contains(scalar)
        }
        if let forbidden {
            throw NodeListViolation(
                token: token,
                reason: "host contains \(describe(forbidden)); write a plain host name or address, e.g. 127.0.0.1"
            )
        }
    }

    package static func checkPort(_ port: Int, token: String, style: NodeListStyle) throws(NodeListViolation) {
        guard (1...65535).contains(port) else {
            throw NodeListViolation(token: token, reason: "port \(port) is out of range; write a port in 1...65535, e.g. \(style.example)")
        }
    }

    /// The list-level rules: at least one node, ids when there are several, no duplicate ids or
    /// servers, failover ids that name listed nodes and leave one regular node. Returns the
    /// failover ids without repeats, in the order given.
    package static func checkList(_ entries: [NodeListEntry], failoverIDs: [String], style: NodeListStyle) throws(NodeListViolation) -> [String] {
        guard !entries.isEmpty else {
            throw NodeListViolation(token: "", reason: "no \(style.serverName) node given; write e.g. \(style.example)")
        }
        if entries.count > 1, let entry = entries.first(where: { $0.id == nil }) {
            throw NodeListViolation(
                token: entry.token,
                reason: "every node needs an id when the list has \(entries.count) nodes; "
                    + "write \(style.entrySyntax), e.g. \(style.exampleID):\(entry.description)"
            )
        }
        var ids: Set<String> = []
        var addresses: Set<String> = []
        for entry in entries {
            if let id = entry.id, !ids.insert(id).inserted {
                throw NodeListViolation(token: entry.token, reason: "node id '\(id)' is used twice; give every node its own id")
            }
            if !addresses.insert(entry.address).inserted {
                throw NodeListViolation(token: entry.token, reason: style.duplicateAddressReason)
            }
        }
        return try checkFailover(failoverIDs, nodeIDs: entries.map(\.id), style: style)
    }

    private static func checkFailover(_ ids: [String], nodeIDs: [String?], style: NodeListStyle) throws(NodeListViolation) -> [String] {
        var unique: [String] = []
        for id in ids where !unique.contains(id) {
            unique.append(id)
        }
        guard let first = unique.first else { return [] }
        guard nodeIDs.count > 1 else {
            throw NodeListViolation(
                token: style.shownID(first),
                reason: "failover nodes need at least two nodes; leave failoverNodes empty for a single node"
            )
        }
        let known = nodeIDs.compactMap { $0 }
        if let unknown = unique.first(where: { !known.contains($0) }) {
            let shown = style.shownID(unknown)
            throw NodeListViolation(token: shown, reason: "no node has id '\(shown)'; known ids: \(known.joined(separator: ", "))")
        }
        guard unique.count < nodeIDs.count else {
            throw NodeListViolation(
                token: "",
                reason: "at least one node must not be a failover node; remove one of "
                    + "\(unique.joined(separator: ", ")) from failoverNodes"
            )
        }
        return unique
    }

    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "_"
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        if scalar.properties.generalCategory == .control || scalar.properties.isWhitespace {
            return "the whitespace or control character U+\(String(scalar.value, radix: 16, uppercase: true))"
        }
        return "'\(scalar)'"
    }
}
