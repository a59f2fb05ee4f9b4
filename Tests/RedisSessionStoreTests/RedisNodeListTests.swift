import MemcachedClient
import MemcachedSessionStore
import RedisClient
import RedisSessionStore
import SessionManager
import Testing

/// A node of a Redis list.
private func node(_ id: String?, _ server: RedisServer) -> RedisNodeList.Node {
    RedisNodeList.Node(id: id, address: server)
}

@Suite struct RedisNodeListTests {
    private static let twoNodes = [
        node("r1", RedisServer(host: "10.0.0.1", port: 6379)),
        node("r2", RedisServer(host: "10.0.0.2", port: 6380, database: 3)),
    ]

    // MARK: - Accepted lists

    @Test(arguments: [
        ("redis://localhost", RedisServer(host: "localhost")),
        ("redis://localhost/", RedisServer(host: "localhost")),
        ("redis://127.0.0.1:6380", RedisServer(host: "127.0.0.1", port: 6380)),
        ("redis://h:1/0", RedisServer(host: "h", port: 1)),
        ("redis://h:65535/15", RedisServer(host: "h", port: 65535, database: 15)),
        ("redis://h/2", RedisServer(host: "h", database: 2)),
        ("REDIS://Cache.Example", RedisServer(host: "Cache.Example")),
    ])
    func singleURLHasNoIDAndDefaults(list: String, expected: RedisServer) throws {
        let parsed = try RedisNodeList(parsing: list)
        #expect(parsed.nodes == [node(nil, expected)])
        #expect(parsed.nodes[0].id == nil)
        #expect(parsed.failoverNodeIDs.isEmpty)
    }

    @Test func defaultsArePort6379AndDatabase0() throws {
        let node = try #require(try RedisNodeList(parsing: "redis://h").nodes.first).address
        #expect(node.port == 6379)
        #expect(node.database == 0)
        #expect(node.username == nil)
        #expect(node.password == nil)
    }

    @Test func singleNodeMayHaveAnID() throws {
        let parsed = try RedisNodeList(parsing: "r1:redis://localhost:6379")
        #expect(parsed.nodes == [node("r1", RedisServer(host: "localhost"))])
    }

    @Test(arguments: [
        "r1:redis://10.0.0.1,r2:redis://10.0.0.2:6380/3",
        "r1:redis://10.0.0.1 r2:redis://10.0.0.2:6380/3",
        "r1:redis://10.0.0.1:6379, r2:redis://10.0.0.2:6380/3",
        "  r1:redis://10.0.0.1/0 ,, \n\tr2:redis://10.0.0.2:6380/3, ",
    ])
    func separatorsMayBeCommasWhitespaceOrBoth(list: String) throws {
        #expect(try RedisNodeList(parsing: list).nodes == Self.twoNodes)
    }

    @Test func credentials() throws {
        let both = try #require(try RedisNodeList(parsing: "redis://alice:secret@h").nodes.first).address
        #expect(both.username == "alice")
        #expect(both.password?.reveal() == "secret")
        let passwordOnly = try #require(try RedisNodeList(parsing: "redis://:secret@h:6380/1").nodes.first).address
        #expect(passwordOnly.username == nil)
        #expect(passwordOnly.password == RedisPassword("secret"))
        #expect(passwordOnly == RedisServer(host: "h", port: 6380, database: 1, password: RedisPassword("secret")))
    }

    @Test(
        arguments: [
            ("redis://:p%40ss%3Aword@h", nil, "p@ss:word"),
            ("redis://us%3Aer%40x:pw@h", "us:er@x", "pw"),
            ("redis://:%25%2C%20%2F%3F%23@h", nil, "%, /?#"),
            ("redis://:%c3%a9t%C3%A9@h", nil, "été"),
            // The last '@' ends the credentials, and only the first ':' splits them.
            ("redis://:a@b@h", nil, "a@b"),
            ("redis://u:a:b/c?d#e@h", "u", "a:b/c?d#e"),
            ("redis://ü:ß@h", "ü", "ß"),
        ] as [(String, String?, String)])
    func credentialsArePercentDecoded(list: String, username: String?, password: String) throws {
        let node = try #require(try RedisNodeList(parsing: list).nodes.first).address
        #expect(node.username == username)
        #expect(node.password?.reveal() == password)
        #expect(node.host == "h")
    }

    @Test func ipv6HostsGoInBrackets() throws {
        #expect(try RedisNodeList(parsing: "redis://[::1]:6380").nodes == [node(nil, RedisServer(host: "::1", port: 6380))])
        #expect(try RedisNodeList(parsing: "redis://[::1]").nodes == [node(nil, RedisServer(host: "::1"))])
        let withIDs = try RedisNodeList(parsing: "r1:redis://:pw@[::1]/2 r2:redis://[fe80::2]:7000")
        #expect(
            withIDs.nodes == [
                node("r1", RedisServer(host: "::1", database: 2, password: RedisPassword("pw"))),
                node("r2", RedisServer(host: "fe80::2", port: 7000)),
            ]
        )
    }

    @Test func idsMayUseLettersDigitsAndUnderscore() throws {
        let parsed = try RedisNodeList(parsing: "n_1:redis://h:1 2:redis://h:2 AbC:redis://h:3")
        #expect(parsed.nodes.map(\.id) == ["n_1", "2", "AbC"])
    }

    @Test func sameServerWithAnotherDatabaseIsAnotherNode() throws {
        let parsed = try RedisNodeList(parsing: "r1:redis://h/1 r2:redis://h/2")
        #expect(parsed.nodes.map(\.address.database) == [1, 2])
    }

    @Test func endpoint() {
        #expect(RedisServer(host: "127.0.0.1").endpoint == "127.0.0.1:6379")
        #expect(RedisServer(host: "::1", port: 6380).endpoint == "[::1]:6380")
    }

    @Test func descriptionUsesNodeListSyntaxWithThePasswordRedacted() {
        #expect(RedisServer(host: "127.0.0.1").description == "redis://127.0.0.1:6379")
        #expect(node("r1", RedisServer(host: "::1", port: 6380, database: 2)).description == "r1:redis://[::1]:6380/2")
        #expect(
            node("r1", RedisServer(host: "127.0.0.1", port: 6380, database: 2, username: "alice", password: RedisPassword("pw")))
                .description == "r1:redis://alice:***@127.0.0.1:6380/2"
        )
        #expect(RedisServer(host: "host", password: RedisPassword("pw")).description == "redis://:***@host:6379")
        #expect(
            RedisServer(host: "h", username: "a:b@c d", password: RedisPassword("pw")).description
                == "redis://a%3Ab%40c%20d:***@h:6379"
        )
    }

    @Test(arguments: [
        "r1:redis://[::1]:6380/2 r2:redis://cache.example r_3:redis://10.0.0.1:65535/15",
        "redis://[::1]",
        "redis://localhost:6379/0",
    ])
    func descriptionsOfPasswordlessListsParseBackToTheSameList(list: String) throws {
        let parsed = try RedisNodeList(parsing: list)
        let reparsed = try RedisNodeList(parsing: parsed.nodes.map(\.description).joined(separator: ","))
        #expect(reparsed == parsed)
    }

    @Test func descriptionKeepsTheUsernameRoundTrippable() throws {
        let node = try #require(try RedisNodeList(parsing: "redis://us%3Aer%40%C3%A9:pw@h").nodes.first)
        let reparsed = try #require(try RedisNodeList(parsing: node.description).nodes.first).address
        #expect(reparsed.username == "us:er@é")
        #expect(reparsed.password?.reveal() == "***")
    }

    @Test func emptyUsernameMeansTheDefaultUser() throws {
        #expect(RedisServer(host: "h", username: "", password: RedisPassword("pw")).username == nil)
        var server = RedisServer(host: "h", password: RedisPassword("pw"))
        server.username = ""
        #expect(server.username == nil, "an empty name is the default user")
    }

    @Test func nodesInitAppliesTheSameRulesAndMatchesParsing() throws {
        let built = try RedisNodeList(nodes: Self.twoNodes, failoverNodeIDs: ["r2", "r2"])
        let parsed = try RedisNodeList(parsing: "r1:redis://10.0.0.1 r2:redis://10.0.0.2:6380/3", failoverNodes: "r2")
        #expect(built == parsed)
        let error = #expect(throws: SessionNodeListError.self) {
            try RedisNodeList(nodes: [node("r-1", RedisServer(host: "h", port: 1))])
        }
        #expect(error?.token == "r-1:redis://h:1")
        let invalid: [RedisNodeList.Node] = [
            node("r1", RedisServer(host: "h", port: 0)),
            node("r1", RedisServer(host: "a b")),
            node("r1", RedisServer(host: "a/b")),
            node("r1", RedisServer(host: "")),
            node("r1", RedisServer(host: "h", database: -1)),
            node("r1", RedisServer(host: "h", username: "alice")),
            node("r1", RedisServer(host: "h", password: RedisPassword(""))),
        ]
        for node in invalid {
            #expect(throws: SessionNodeListError.self, "\(node)") { try RedisNodeList(nodes: [node]) }
        }
        #expect(throws: SessionNodeListError.self) { try RedisNodeList(nodes: []) }
    }

    @Test func redissMeansTLSAndPrintsBack() throws {
        let list = try RedisNodeList(parsing: "r1:rediss://:pw@cache.example.com:6380/1 r2:redis://h")
        #expect(list.nodes[0].address.usesTLS)
        #expect(!list.nodes[1].address.usesTLS)
        #expect(list.nodes[0].description == "r1:rediss://:***@cache.example.com:6380/1")
        #expect(try RedisNodeList(parsing: "REDISS://h").nodes[0].address.usesTLS)
        #expect(try RedisNodeList(parsing: "rediss://h").nodes[0].description == "rediss://h:6379")
    }

    // MARK: - Choosing the backend

    @Test(arguments: [
        ("redis://h", true),
        ("r1:redis://h r2:redis://h:2", true),
        ("rediss://h", true),
        ("r1:REDIS://h, m1:h:1", true),  // then refused as mixed
        ("r1:rediss://h", true),
        ("m1:h:1 m2:h:2", false),
        ("h:11211", false),
        ("m1:h:1, r1:redis://h", false),  // then refused as mixed
        ("", false),
    ])
    func urlListsSelectRedis(list: String, expected: Bool) {
        #expect(SessionNodeListSyntax.namesURLs(list) == expected)
    }

    // MARK: - Rejected lists

    @Test(arguments: ["", "   ", " , ,\n"])
    func blankListIsRejected(list: String) {
        let error = #expect(throws: SessionNodeListError.self) { try RedisNodeList(parsing: list) }
        #expect(error?.token == "")
        #expect(error?.description.contains("redis://127.0.0.1:6379") == true)
    }

    /// Each case: the whole list, then the token the error must name (password redacted).
    @Test(arguments: [
        // several nodes need ids
        ("r1:redis://h:1,redis://h:2", "redis://h:2"),
        ("redis://h:1 redis://h:2", "redis://h:1"),
        // ids are \w+
        ("r-1:redis://h", "r-1:redis://h"),
        ("r.1:redis://h", "r.1:redis://h"),
        ("r!:redis://h", "r!:redis://h"),
        (":redis://h", ":redis://h"),
        ("ü:redis://h", "ü:redis://h"),
        ("a:b:redis://h", "a:b:redis://h"),
        // duplicates
        ("r1:redis://h:1,r1:redis://h:2", "r1:redis://h:2"),
        ("r1:redis://h,r2:redis://h:6379", "r2:redis://h:6379"),
        ("r1:redis://h/1 r2:redis://H/1", "r2:redis://H/1"),
        ("r1:redis://h/0 r2:redis://h/", "r2:redis://h/"),
        // hosts
        ("redis://", "redis://"),
        ("redis://:6379", "redis://:6379"),
        ("redis://:pw@", "redis://:***@"),
        ("redis://h\u{7}x", "redis://h\u{7}x"),
        ("redis://::1", "redis://::1"),
        ("redis://::1:6379", "redis://::1:6379"),
        ("redis://[]:1", "redis://[]:1"),
        ("redis://[localhost]:1", "redis://[localhost]:1"),
        ("redis://[::1:6379", "redis://[::1:6379"),
        ("redis://::1]:6379", "redis://::1]:6379"),
        ("redis://[::1]x:1", "redis://[::1]x:1"),
        ("redis://h[::1]", "redis://h[::1]"),
        // ports
        ("redis://h:", "redis://h:"),
        ("redis://h:0", "redis://h:0"),
        ("redis://h:70000", "redis://h:70000"),
        ("redis://h:abc", "redis://h:abc"),
        ("redis://h:+1", "redis://h:+1"),
        ("redis://h:-1", "redis://h:-1"),
        ("redis://h:99999999999999999999999", "redis://h:99999999999999999999999"),
        ("redis://[::1]:", "redis://[::1]:"),
        // databases
        ("redis://h/abc", "redis://h/abc"),
        ("redis://h/-1", "redis://h/-1"),
        ("redis://h/+1", "redis://h/+1"),
        ("redis://h/1/x", "redis://h/1/x"),
        ("redis://h/1/", "redis://h/1/"),
        ("redis://h/99999999999999999999999", "redis://h/99999999999999999999999"),
        ("redis://h/1?timeout=5", "redis://h/1?timeout=5"),
        ("redis://h?db=1", "redis://h?db=1"),
        ("redis://h#x", "redis://h#x"),
        // credentials
        ("redis://@h", "redis://***@h"),
        ("redis://alice@h", "redis://***@h"),
        ("redis://alice:@h", "redis://alice:***@h"),
        ("redis://:@h", "redis://:***@h"),
        ("redis://:100%sure@h", "redis://:***@h"),
        ("redis://:abc%4@h", "redis://:***@h"),
        ("redis://:abc%@h", "redis://:***@h"),
        ("redis://al%zzce:pw@h", "redis://al%zzce:***@h"),
        ("redis://:%FF%FE@h", "redis://:***@h"),
        // schemes and other syntaxes
        ("http://h:80", "http://h:80"),
        ("unix://:pw@/tmp/redis.sock", "unix://:***@/tmp/redis.sock"),
        ("h:6379", "h:6379"),
        ("m1:h:11211", "m1:h:11211"),
    ])
    func badTokenIsNamedInTheError(list: String, offendingToken: String) {
        let error = #expect(throws: SessionNodeListError.self) { try RedisNodeList(parsing: list) }
        #expect(error?.token == offendingToken)
        #expect(error?.reason.isEmpty == false)
    }

    @Test(arguments: [
        "r1:redis://h m2:h:11211",
        "m2:h:11211 r1:redis://h",
        "r1:redis://h,h:11211",
    ])
    func mixedListsAreRejected(list: String) {
        let error = #expect(throws: SessionNodeListError.self) { try RedisNodeList(parsing: list) }
        #expect(error?.token.contains("://") == false)
        #expect(
            error?.reason.contains(
                "mixed memcached and Redis nodes in one list are not supported; list only redis:// nodes"
            ) == true
        )
    }

    @Test func errorsSayWhatToWriteInstead() {
        func reason(_ list: String, failoverNodes: String = "") -> String {
            let error = #expect(throws: SessionNodeListError.self) {
                try RedisNodeList(parsing: list, failoverNodes: failoverNodes)
            }
            return error?.description ?? ""
        }
        #expect(reason("r1:redis://h:1 redis://h:2").contains("id:redis://"))
        #expect(reason("r-1:redis://h").contains("session id"))
        #expect(reason("redis://h:0").contains("1...65535"))
        #expect(reason("redis://h/1?timeout=5").contains("query strings"))
        #expect(reason("redis://h/abc").contains("non-negative decimal"))
        #expect(reason("redis://h/1/x").contains("nothing may follow the database"))
        #expect(reason("redis://::1").contains("brackets"))
        #expect(reason("redis://:100%sure@h").contains("%25"))
        #expect(reason("h:6379").contains("redis://[user:password@]host[:port][/db]"))
        #expect(reason("redis://alice@h").contains("redis://:password@host"))
    }

    // MARK: - Passwords never leak

    private static let secret = "Sup3rS3cr3t"

    @Test func nodeDescriptionsNeverShowThePassword() throws {
        let list = try RedisNodeList(parsing: "r1:redis://alice:\(Self.secret)@h:6380/2 r2:redis://:\(Self.secret)@[::1]")
        for node in list.nodes {
            #expect(!"\(node)".contains(Self.secret))
            #expect(!String(reflecting: node).contains(Self.secret))
            #expect(!String(describing: node.address.password).contains(Self.secret))
            #expect(!String(reflecting: node.address.password).contains(Self.secret))
            var dumped = ""
            dump(node, to: &dumped)
            #expect(!dumped.contains(Self.secret))
            #expect(dumped.contains("***"))
            #expect(node.address.password?.reveal() == Self.secret)
        }
        #expect(!String(reflecting: list).contains(Self.secret))
        var dumped = ""
        dump(list, to: &dumped)
        #expect(!dumped.contains(Self.secret))
        #expect(Mirror(reflecting: RedisPassword(Self.secret)).children.isEmpty)
        #expect("\(list.nodes[0])" == "r1:redis://alice:***@h:6380/2")
    }

    /// Lists that fail at every stage, each with the secret somewhere in a password.
    @Test(arguments: [
        "r1:redis://alice:\(secret)@h:0",
        "r1:redis://alice:\(secret)@h/x",
        "r1:redis://alice:\(secret)@h?x=1",
        "r1:redis://alice:\(secret)@::1",
        "r1:redis://alice:\(secret)%@h",
        "r-1:redis://:\(secret)@h",
        "rediss://:\(secret)@h:0",
        "http://:\(secret)@h",
        "redis://:\(secret)@h redis://h:2",
        "r1:redis://:\(secret)@h r1:redis://:\(secret)@h:2",
        "r1:redis://:\(secret)@h r2:redis://:\(secret)@h",
        "r1:redis://:\(secret)@h h:11211",
        // A password with an unencoded comma or space splits the token; the pieces stay hidden.
        "r1:redis://:ab,\(secret)@h",
        "r1:redis://:ab \(secret)@h",
        "r1:redis://:\(secret)@h r2:\(secret)@h",
    ])
    func errorsNeverShowThePassword(list: String) {
        let error = #expect(throws: SessionNodeListError.self) { try RedisNodeList(parsing: list) }
        #expect(error.map { !"\($0)".contains(Self.secret) } == true)
        #expect(error.map { !String(reflecting: $0).contains(Self.secret) } == true)
        #expect(error.map { !$0.token.contains(Self.secret) && !$0.reason.contains(Self.secret) } == true)
    }

    /// The first half of a password cut by ',' or a space has no '@' left to redact: the whole
    /// list is refused before any entry is parsed or quoted.
    @Test(arguments: [
        ("r1:redis://:Sup3r,S3cr3t@h r2:redis://h:2", "Sup3r"),
        ("redis://:Sup3r S3cr3t@h", "Sup3r"),
        ("redis://:12345,678@h", "12345"),
        ("redis://al1ce:pa ss@h", "al1ce:pa"),
    ])
    func aPasswordCutByACommaOrSpaceIsNeverQuoted(list: String, firstHalf: String) {
        let error = #expect(throws: SessionNodeListError.self) { try RedisNodeList(parsing: list) }
        #expect(error?.token == "")
        #expect(error?.reason.contains("%2C") == true)
        #expect(error.map { !"\($0)".contains(firstHalf) } == true)
        let memcached = #expect(throws: SessionNodeListError.self) { try MemcachedNodeList(parsing: list) }
        #expect(memcached.map { !"\($0)".contains(firstHalf) } == true)
    }

    @Test func failoverErrorsNeverShowThePassword() {
        let error = #expect(throws: SessionNodeListError.self) {
            try RedisNodeList(parsing: "r1:redis://h r2:redis://h:2", failoverNodes: "r1:redis://:\(Self.secret)@h")
        }
        #expect(error.map { !"\($0)".contains(Self.secret) } == true)
    }

    @Test func nodesInitErrorsNeverShowThePassword() {
        let entry = node("r1", RedisServer(host: "h", port: 0, password: RedisPassword(Self.secret)))
        let error = #expect(throws: SessionNodeListError.self) { try RedisNodeList(nodes: [entry]) }
        #expect(error?.token == "r1:redis://:***@h:0")
        #expect(error.map { !"\($0)".contains(Self.secret) } == true)
    }

    // MARK: - Failover nodes

    @Test func failoverNodesAreKeptInOrderWithoutDuplicates() throws {
        let list = try RedisNodeList(
            parsing: "r1:redis://h:1,r2:redis://h:2,r3:redis://h:3",
            failoverNodes: "r2, r1 r2"
        )
        #expect(list.failoverNodeIDs == ["r2", "r1"])
        #expect(list.isFailoverNode(id: "r1"))
        #expect(!list.isFailoverNode(id: "r3"))
        #expect(list.regularNodes == [node("r3", RedisServer(host: "h", port: 3))])
    }

    @Test(arguments: ["", "  ", " , "])
    func blankFailoverMeansNone(failoverNodes: String) throws {
        let list = try RedisNodeList(parsing: "r1:redis://h:1 r2:redis://h:2", failoverNodes: failoverNodes)
        #expect(list.failoverNodeIDs.isEmpty)
        #expect(list.regularNodes.map(\.id) == ["r1", "r2"])
    }

    @Test func unknownFailoverIDIsNamedWithTheKnownIDs() {
        let error = #expect(throws: SessionNodeListError.self) {
            try RedisNodeList(parsing: "r1:redis://h:1,r2:redis://h:2", failoverNodes: "r1 r3")
        }
        #expect(error?.token == "r3")
        #expect(error?.reason.contains("r1, r2") == true)
    }

    @Test(arguments: ["r1:redis://h", "redis://h"])
    func failoverNeedsTwoNodes(list: String) {
        let error = #expect(throws: SessionNodeListError.self) { try RedisNodeList(parsing: list, failoverNodes: "r1") }
        #expect(error?.token == "r1")
        #expect(error?.reason.contains("at least two nodes") == true)
    }

    @Test(arguments: ["r1,r2", "r2 r1 r2"])
    func oneNodeMustStayRegular(failoverNodes: String) {
        let error = #expect(throws: SessionNodeListError.self) {
            try RedisNodeList(parsing: "r1:redis://h:1,r2:redis://h:2", failoverNodes: failoverNodes)
        }
        #expect(error?.token == "")
        #expect(error?.reason.contains("at least one node must not be a failover node") == true)
    }

    @Test func nodesInitValidatesFailoverIDsToo() {
        let error = #expect(throws: SessionNodeListError.self) {
            try RedisNodeList(nodes: Self.twoNodes, failoverNodeIDs: ["r9"])
        }
        #expect(error?.token == "r9")
    }

    // MARK: - Lookup

    @Test func nodeLookupByID() throws {
        let list = try RedisNodeList(parsing: "r1:redis://h:1 r2:redis://[::1]:2/4")
        #expect(list.node(id: "r2") == node("r2", RedisServer(host: "::1", port: 2, database: 4)))
        #expect(list.node(id: "r1")?.address.port == 1)
        #expect(list.node(id: "r3") == nil)
    }
}
