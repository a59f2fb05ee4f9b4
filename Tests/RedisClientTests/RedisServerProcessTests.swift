import ServerTestSupport
import Testing

/// The harness the Redis integration tests stand on: a real redis-server that starts, answers as
/// itself, dies, comes back empty on the same port, and can be frozen.
@Suite struct RedisServerProcessTests {
    @Test func startsAndReportsItsOwnPID() async throws {
        try await withRedisServer { server async throws in
            #expect(server.isRunning)
            #expect(server.host == "127.0.0.1")
            #expect(server.endpoint == "127.0.0.1:\(server.port)")
            let info = try await server.info("server")
            #expect(info["process_id"] == String(server.pid))
            #expect(info["tcp_port"] == String(server.port))
            #expect(try await server.command(["PING"]) == .simple("PONG"))
            #expect(try await server.command(["CONFIG", "GET", "save"]) == .array([.bulk("save"), .bulk("")]))
            #expect(try await server.command(["CONFIG", "GET", "appendonly"]) == .array([.bulk("appendonly"), .bulk("no")]))
            #expect(try await server.command(["SELECT", "15"]) == .simple("OK"))
        }
    }

    @Test func passwordProtectedServer() async throws {
        try await withRedisServer(password: "pa ss\"word") { server async throws in
            #expect(try await server.info()["process_id"] == String(server.pid))
            #expect(try await server.command(["SET", "k", "v"]) == .simple("OK"))
            #expect(try await server.command(["GET", "k"]) == .bulk("v"))
            let anonymous = try await server.command(["GET", "k"], authenticate: false)
            #expect(anonymous.description.hasPrefix("-NOAUTH"))
        }
    }

    @Test func aclUserHasFullAccess() async throws {
        try await withRedisServer(password: "defaultpw", users: [(name: "alice", password: "a1ice pw")]) { server async throws in
            #expect(try await server.command(["AUTH", "alice", "a1ice pw"], authenticate: false) == .simple("OK"))
            #expect(try await server.command(["AUTH", "alice", "wrong"], authenticate: false).description.hasPrefix("-WRONGPASS"))
            #expect(try await server.command(["ACL", "WHOAMI"]) == .bulk("default"))
        }
        // Users only: the harness authenticates as the first user.
        try await withRedisServer(users: [(name: "bob", password: "b0b")]) { server async throws in
            #expect(try await server.info("server")["process_id"] == String(server.pid))
            #expect(try await server.command(["ACL", "WHOAMI"]) == .bulk("bob"))
            #expect(try await server.command(["SET", "k", "v"]) == .simple("OK"))
            #expect(try await server.command(["PUBLISH", "channel", "m"]) == .integer(0))
        }
    }

    @Test func killFreesThePortAndRestartComesBackEmptyOnIt() async throws {
        try await withRedisServer { server async throws in
            let port = server.port
            let firstPID = server.pid
            #expect(try await server.command(["SET", "k", "v"]) == .simple("OK"))
            await server.kill()
            #expect(!server.isRunning)
            await #expect(throws: TestServerError.self) { try await server.command(["PING"]) }
            await server.kill()  // idempotent

            try await server.restart()
            #expect(server.isRunning)
            #expect(server.port == port)
            #expect(server.pid != firstPID)
            #expect(try await server.info("server")["process_id"] == String(server.pid))
            #expect(try await server.command(["GET", "k"]) == .bulk(nil))
        }
    }

    @Test func suspendedServerDoesNotAnswerUntilResumed() async throws {
        try await withRedisServer { server async throws in
            server.suspend()
            let error = await #expect(throws: TestServerError.self) {
                try await server.command(["PING"], timeout: .milliseconds(200))
            }
            #expect(error?.description.contains("suspended") == true)
            #expect(server.isRunning)
            server.resume()
            #expect(try await server.command(["PING"]) == .simple("PONG"))
        }
    }

    @Test func startOnABusyPortFailsClearly() async throws {
        try await withRedisServer { first async throws in
            let error = await #expect(throws: TestServerError.self) {
                _ = try await RedisServerProcess.start(port: first.port)
            }
            #expect(error?.description.contains("redis-server") == true)
            #expect(error?.description.contains("Address already in use") == true)
            #expect(try await first.command(["PING"]) == .simple("PONG"))
        }
    }

    @Test func findsTheBinary() throws {
        let path = try RedisServerProcess.findBinary()
        #expect(path.hasSuffix("/redis-server"))
    }

    @Test func replyParserHandlesEveryRESP2Type() throws {
        var bytes = ArraySlice(Array("+OK\r\n-ERR x\r\n:-3\r\n$3\r\na\r\n\r\n$-1\r\n*2\r\n$1\r\nx\r\n*-1\r\n*0\r\n".utf8))
        let replies = try #require(try RedisTestReply.parseAll(bytes))
        #expect(
            replies == [
                .simple("OK"), .error("ERR x"), .integer(-3), .bulk("a\r\n"), .bulk(nil),
                .array([.bulk("x"), .array(nil)]), .array([]),
            ]
        )
        bytes = ArraySlice(Array("$5\r\nab".utf8))
        #expect(try RedisTestReply.parseAll(bytes) == nil)
        #expect(try RedisTestReply.parseAll(ArraySlice(Array("*2\r\n:1\r\n".utf8))) == nil)
        #expect(throws: TestServerError.self) { try RedisTestReply.parseAll(ArraySlice(Array("?x\r\n".utf8))) }
    }
}
