import MemcachedClient
import MemcachedSessionStore
import SessionManager
import Testing

/// A node of a memcached list.
private func entry(_ id: String?, _ host: String, _ port: Int) -> MemcachedNodeList.Node {
    MemcachedNodeList.Node(id: id, address: MemcachedServer(host: host, port: port))
}

@Suite struct MemcachedNodeListTests {
    private static let twoNodes = [
        entry("m1", "10.0.0.1", 11211),
        entry("m2", "10.0.0.2", 11212),
    ]

    // MARK: - Accepted lists

    @Test(arguments: [("localhost:11211", "localhost", 11211), ("127.0.0.1:1", "127.0.0.1", 1), ("h:65535", "h", 65535)])
    func singleHostPortHasNoID(list: String, host: String, port: Int) throws {
        let parsed = try MemcachedNodeList(parsing: list)
        #expect(parsed.nodes == [entry(nil, host, port)])
        #expect(parsed.failoverNodeIDs.isEmpty)
    }

    @Test func singleNodeMayHaveAnID() throws {
        let parsed = try MemcachedNodeList(parsing: "m1:localhost:11211")
        #expect(parsed.nodes == [entry("m1", "localhost", 11211)])
    }

    @Test(arguments: [
        "m1:10.0.0.1:11211,m2:10.0.0.2:11212",
        "m1:10.0.0.1:11211 m2:10.0.0.2:11212",
        "m1:10.0.0.1:11211, m2:10.0.0.2:11212",
        "  m1:10.0.0.1:11211 ,, \n\tm2:10.0.0.2:11212, ",
    ])
    func separatorsMayBeCommasWhitespaceOrBoth(list: String) throws {
        #expect(try MemcachedNodeList(parsing: list).nodes == Self.twoNodes)
    }

    @Test func ipv6HostsGoInBrackets() throws {
        #expect(try MemcachedNodeList(parsing: "[::1]:11211").nodes == [entry(nil, "::1", 11211)])
        let withIDs = try MemcachedNodeList(parsing: "m1:[::1]:11211 m2:[fe80::2]:11212")
        #expect(
            withIDs.nodes == [
                entry("m1", "::1", 11211),
                entry("m2", "fe80::2", 11212),
            ]
        )
    }

    @Test func idsMayUseLettersDigitsAndUnderscore() throws {
        let parsed = try MemcachedNodeList(parsing: "n_1:h:1 2:h:2 AbC:h:3")
        #expect(parsed.nodes.map(\.id) == ["n_1", "2", "AbC"])
    }

    @Test func descriptionUsesNodeListSyntax() {
        #expect(entry("m1", "127.0.0.1", 11211).description == "m1:127.0.0.1:11211")
        #expect(entry(nil, "localhost", 11211).description == "localhost:11211")
        #expect(entry(nil, "::1", 11211).description == "[::1]:11211")
        #expect(entry("m1", "::1", 11211).description == "m1:[::1]:11211")
        #expect(MemcachedServer(host: "::1", port: 11211).description == "[::1]:11211")
    }

    @Test(arguments: ["m1:[::1]:11211 m2:cache.example:2 m_3:10.0.0.1:65535", "[::1]:11211", "localhost:11211"])
    func descriptionsParseBackToTheSameList(list: String) throws {
        let parsed = try MemcachedNodeList(parsing: list)
        let reparsed = try MemcachedNodeList(parsing: parsed.nodes.map(\.description).joined(separator: ","))
        #expect(reparsed == parsed)
    }

    @Test func nodesInitAppliesTheSameRulesAndMatchesParsing() throws {
        let built = try MemcachedNodeList(nodes: Self.twoNodes, failoverNodeIDs: ["m2", "m2"])
        let parsed = try MemcachedNodeList(parsing: "m1:10.0.0.1:11211 m2:10.0.0.2:11212", failoverNodes: "m2")
        #expect(built == parsed)
        let error = #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(nodes: [entry("m-1", "h", 1)])
        }
        #expect(error?.token == "m-1:h:1")
        #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(nodes: [entry("m1", "h", 0)])
        }
        #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(nodes: [entry("m1", "a b", 1)])
        }
        #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(nodes: []) }
    }

    // MARK: - Rejected lists

    @Test(arguments: ["", "   ", " , ,\n"])
    func blankListIsRejected(list: String) {
        let error = #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(parsing: list) }
        #expect(error?.token == "")
        #expect(error?.description.contains("m1:127.0.0.1:11211") == true)
    }

    /// Each case: the whole list, then the token the error must name.
    @Test(arguments: [
        // several nodes need ids
        ("m1:h:1,h:2", "h:2"),
        ("h:1 h:2", "h:1"),
        // ids are \w+
        ("m-1:h:1", "m-1:h:1"),
        ("m.1:h:1", "m.1:h:1"),
        ("m!:h:1", "m!:h:1"),
        (":h:1", ":h:1"),
        ("ü:h:1", "ü:h:1"),
        ("a:b:h:1", "a:b:h:1"),
        // duplicates
        ("m1:h:1,m1:h:2", "m1:h:2"),
        ("m1:h:1,m2:h:1", "m2:h:1"),
        ("m1:h:1 m2:H:1", "m2:H:1"),
        // hosts
        ("m1::1", "m1::1"),
        ("h\u{7}x:1", "h\u{7}x:1"),
        ("[]:1", "[]:1"),
        ("m1:[]:1", "m1:[]:1"),
        ("[localhost]:1", "[localhost]:1"),
        ("::1:11211", "::1:11211"),
        ("[::1:11211", "[::1:11211"),
        ("::1]:11211", "::1]:11211"),
        ("[[::1]]:1", "[[::1]]:1"),
        ("m1[::1]:1", "m1[::1]:1"),
        ("[::1]x:1", "[::1]x:1"),
        // ports
        ("h", "h"),
        ("m1:h:", "m1:h:"),
        ("m1:h:0", "m1:h:0"),
        ("m1:h:70000", "m1:h:70000"),
        ("m1:h:abc", "m1:h:abc"),
        ("m1:h:+1", "m1:h:+1"),
        ("m1:h:-1", "m1:h:-1"),
        ("m1:h:99999999999999999999999", "m1:h:99999999999999999999999"),
        // other protocols
        ("redis://h:6379", "redis://h:6379"),
        ("rediss://h:6379", "rediss://h:6379"),
        ("http://h:80", "http://h:80"),
        ("m1:h:1 REDIS://x:1", "REDIS://x:1"),
        ("m1:h:1 r2:redis://x:1", "r2:redis://x:1"),
        ("m1:h:1 r2:rediss://x", "r2:rediss://x"),
        ("m1:h:1 redis://:secret@x:1", "redis://:***@x:1"),
    ])
    func badTokenIsNamedInTheError(list: String, offendingToken: String) {
        let error = #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(parsing: list) }
        #expect(error?.token == offendingToken)
        #expect(error?.reason.isEmpty == false)
    }

    @Test func errorsSayWhatToWriteInstead() {
        let missingID = #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(parsing: "m1:h:1 h:2") }
        #expect(missingID?.description.contains("id:host:port") == true)
        let dashed = #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(parsing: "m-1:h:1") }
        #expect(dashed?.description.contains("session id") == true)
        let redis = #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(parsing: "redis://h:6379") }
        #expect(redis?.description.contains("memcached nodes only") == true)
        let mixed = #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(parsing: "m1:h:1, r2:redis://h:6379")
        }
        #expect(mixed?.token == "r2:redis://h:6379")
        #expect(mixed?.reason.contains("mixed memcached and Redis nodes in one list are not supported") == true)
        #expect(mixed?.reason.contains("list only redis:// nodes") == true)
        #expect(mixed?.reason.contains("selects Redis") == true)
        let port = #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(parsing: "m1:h:0") }
        #expect(port?.description.contains("1...65535") == true)
    }

    @Test func redisPasswordsStayOutOfErrors() {
        let error = #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(parsing: "m1:h:1 r2:redis://alice:s3cr%40t@h:6379/1")
        }
        #expect(error?.token == "r2:redis://alice:***@h:6379/1")
        #expect(error?.description.contains("s3cr") == false)
    }

    // MARK: - Failover nodes

    @Test func failoverNodesAreKeptInOrderWithoutDuplicates() throws {
        let list = try MemcachedNodeList(parsing: "m1:h:1,m2:h:2,m3:h:3", failoverNodes: "m2, m1 m2")
        #expect(list.failoverNodeIDs == ["m2", "m1"])
        #expect(list.isFailoverNode(id: "m1"))
        #expect(!list.isFailoverNode(id: "m3"))
        #expect(list.regularNodes == [entry("m3", "h", 3)])
    }

    @Test func regularNodesKeepListOrder() throws {
        let list = try MemcachedNodeList(parsing: "m1:h:1 m2:h:2 m3:h:3", failoverNodes: "m2")
        #expect(list.regularNodes.map(\.id) == ["m1", "m3"])
    }

    @Test(arguments: ["", "  ", " , "])
    func blankFailoverMeansNone(failoverNodes: String) throws {
        let list = try MemcachedNodeList(parsing: "m1:h:1 m2:h:2", failoverNodes: failoverNodes)
        #expect(list.failoverNodeIDs.isEmpty)
        #expect(list.regularNodes.map(\.id) == ["m1", "m2"])
    }

    @Test func unknownFailoverIDIsNamedWithTheKnownIDs() {
        let error = #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(parsing: "m1:h:1,m2:h:2", failoverNodes: "m1 m3")
        }
        #expect(error?.token == "m3")
        #expect(error?.reason.contains("m1, m2") == true)
    }

    @Test(arguments: ["m1:h:1", "h:1"])
    func failoverNeedsTwoNodes(list: String) {
        let error = #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(parsing: list, failoverNodes: "m1")
        }
        #expect(error?.token == "m1")
        #expect(error?.reason.contains("at least two nodes") == true)
    }

    @Test(arguments: ["m1,m2", "m2 m1 m2"])
    func oneNodeMustStayRegular(failoverNodes: String) {
        let error = #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(parsing: "m1:h:1,m2:h:2", failoverNodes: failoverNodes)
        }
        #expect(error?.token == "")
        #expect(error?.reason.contains("at least one node must not be a failover node") == true)
    }

    @Test func nodesInitValidatesFailoverIDsToo() {
        let error = #expect(throws: SessionNodeListError.self) {
            try MemcachedNodeList(nodes: Self.twoNodes, failoverNodeIDs: ["m9"])
        }
        #expect(error?.token == "m9")
    }

    // MARK: - Lookup

    @Test func nodeLookupByID() throws {
        let list = try MemcachedNodeList(parsing: "m1:h:1 m2:[::1]:2")
        #expect(list.node(id: "m2") == entry("m2", "::1", 2))
        #expect(list.node(id: "m1")?.address.port == 1)
        #expect(list.node(id: "m3") == nil)
    }
}
