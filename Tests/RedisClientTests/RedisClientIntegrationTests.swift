import Logging
import NIOCore
import NIOPosix
import ServerTestSupport
import ServiceLifecycle
import Testing

@testable import RedisClient

/// Against real redis-server processes these tests start themselves, so they can kill, stop and
/// restart them. Serialized: the fault tests measure waits, which parallel floods would blur.
@Suite(.serialized) struct RedisClientIntegrationTests {
    private func makeClient(
        _ server: RedisServerProcess,
        credentials: String = "",
        database: Int = 0,
        configure: (inout RedisClientConfiguration) -> Void = { _ in }
    ) throws -> RedisClient {
        var configuration = RedisClientConfiguration()
        configure(&configuration)
        let server = try RedisServer(url: "redis://\(credentials)\(server.endpoint)/\(database)")
        return try RedisClient(server: server, configuration: configuration)
    }

    @Test func everyCommand() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server)
            defer { Task { await client.shutdown() } }

            #expect(try await client.get("missing") == nil)
            try await client.set("k", value: ByteBuffer(string: "v1"))
            #expect(try await client.get("k") == ByteBuffer(string: "v1"))
            #expect(try await client.timeToLive("k") == .persistent)

            // NX: only when absent (the lock primitive); XX: only when present.
            #expect(try await client.set("k", value: ByteBuffer(string: "v2"), condition: .ifNotExists) == false)
            #expect(try await client.get("k") == ByteBuffer(string: "v1"))
            #expect(try await client.set("absent", value: ByteBuffer(string: "x"), condition: .ifExists) == false)
            #expect(try await client.get("absent") == nil)
            #expect(try await client.set("fresh", value: ByteBuffer(string: "x"), expiration: .seconds(60), condition: .ifNotExists))

            // Milliseconds TTLs, set atomically with the value.
            guard case .expires(let left) = try await client.timeToLive("fresh") else {
                Issue.record("no TTL on fresh")
                return
            }
            #expect(left > .seconds(59) && left <= .seconds(60))
            #expect(try await client.expire("fresh", after: .milliseconds(1500)))
            guard case .expires(let shorter) = try await client.timeToLive("fresh") else {
                Issue.record("no TTL after PEXPIRE")
                return
            }
            #expect(shorter <= .milliseconds(1500))
            #expect(try await client.expire("missing", after: .seconds(1)) == false)
            #expect(try await client.timeToLive("missing") == .missing)

            // Binary-safe values, and keys Redis would not mind (memcached would) with spaces.
            let binary = ByteBuffer(bytes: [0, 13, 10, 255, 32, 0])
            try await client.set("key with spaces\r\n", value: binary)
            #expect(try await client.get("key with spaces\r\n") == binary)

            #expect(try await client.delete("k"))
            #expect(try await client.delete("k") == false)
            try await client.ping()
            #expect(try await client.send(RESPCommand("ECHO", "hello")) == .bulkString(ByteBuffer(string: "hello")))
        }
    }

    @Test func timeToLiveIsInMilliseconds() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server)
            defer { Task { await client.shutdown() } }
            try await client.set("short", value: ByteBuffer(string: "v"), expiration: .milliseconds(150))
            #expect(try await client.get("short") != nil)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await client.get("short") == nil)
            let error = await #expect(throws: RedisError.self) { try await client.set("k", value: ByteBuffer(), expiration: .zero) }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test func deleteIfValueIsOwnerCheckedAndSurvivesAScriptFlush() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server)
            defer { Task { await client.shutdown() } }
            try await client.set("lock", value: ByteBuffer(string: "token-A"))
            #expect(try await client.delete("lock", ifValueIs: ByteBuffer(string: "token-B")) == false)
            #expect(try await client.get("lock") == ByteBuffer(string: "token-A"))
            #expect(try await client.delete("lock", ifValueIs: ByteBuffer(string: "token-A")))
            #expect(try await client.get("lock") == nil)

            // Our SHA-1 names the script as Redis does, and a flushed script cache is no failure.
            let loaded = try await server.command(["SCRIPT", "LOAD", RedisScript.deleteIfEqual.source])
            #expect(loaded.text == RedisScript.deleteIfEqual.sha1)
            _ = try await server.command(["SCRIPT", "FLUSH"])
            try await client.set("lock", value: ByteBuffer(string: "token-C"))
            #expect(try await client.delete("lock", ifValueIs: ByteBuffer(string: "token-C")))
        }
    }

    @Test func errorRepliesAreTypedAndTheConnectionSurvives() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server) { $0.connectionsPerNode = 1 }
            defer { Task { await client.shutdown() } }
            let connectionBefore = try await client.send(RESPCommand("CLIENT", "ID"))
            _ = try await client.send(RESPCommand("LPUSH", "list", "x"))
            let wrongType = await #expect(throws: RedisError.self) { try await client.get("list") }
            #expect(wrongType?.code == .wrongType)
            #expect(wrongType?.serverErrorCode == "WRONGTYPE")
            let unknown = await #expect(throws: RedisError.self) { try await client.send(RESPCommand("NOSUCHCOMMAND")) }
            #expect(unknown?.code == .serverError)
            try await client.set("after", value: ByteBuffer(string: "ok"))
            #expect(try await client.get("after") == ByteBuffer(string: "ok"))
            // The same connection carried it all: an error reply does not cost the connection.
            #expect(try await client.send(RESPCommand("CLIENT", "ID")) == connectionBefore)
        }
    }

    @Test func aPasswordAndAnACLUserAuthenticateAndWrongOnesAreTypedErrorsThatNeverShowThePassword() async throws {
        try await withRedisServer(password: "s3cret-default", users: [(name: "alice", password: "al1ce-pw")]) { server in
            let asDefault = try makeClient(server, credentials: ":s3cret-default@")
            let asAlice = try makeClient(server, credentials: "alice:al1ce-pw@")
            let anonymous = try makeClient(server)
            let wrong = try makeClient(server, credentials: "alice:not-her-password@")
            defer { Task { for client in [asDefault, asAlice, anonymous, wrong] { await client.shutdown() } } }

            try await asDefault.set("k", value: ByteBuffer(string: "v"))
            #expect(try await asAlice.get("k") == ByteBuffer(string: "v"))

            let noAuth = await #expect(throws: RedisError.self) { try await anonymous.get("k") }
            #expect(noAuth?.code == .authenticationFailed)
            #expect(noAuth?.isNodeFailure == true)

            let refused = await #expect(throws: RedisError.self) { try await wrong.get("k") }
            #expect(refused?.code == .authenticationFailed)
            let text = "\(refused.map { "\($0)" } ?? "") \(String(reflecting: refused))"
            #expect(text.contains("alice"))
            #expect(!text.contains("not-her-password"))
            #expect(!text.contains("al1ce-pw") && !text.contains("s3cret-default"))
        }
    }

    @Test func aNonZeroDatabaseIsSelectedOnEveryConnection() async throws {
        try await withRedisServer { server in
            let inThree = try makeClient(server, database: 3) { $0.connectionsPerNode = 3 }
            let inZero = try makeClient(server)
            defer {
                Task {
                    await inThree.shutdown()
                    await inZero.shutdown()
                }
            }
            // Several connections: each must have run SELECT before carrying a command.
            for index in 0..<30 { try await inThree.set("k\(index)", value: ByteBuffer(string: "three")) }
            #expect(try await inZero.get("k0") == nil)
            for index in 0..<30 { #expect(try await inThree.get("k\(index)") == ByteBuffer(string: "three")) }
            let keyspace = try await server.info("keyspace")
            #expect(keyspace["db3"]?.hasPrefix("keys=30") == true)
            #expect(keyspace["db0"] == nil)
        }
    }

    @Test func tenThousandConcurrentPipelinedCommandsAreAllAnsweredCorrectly() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server) { $0.operationTimeout = .seconds(10) }
            defer { Task { await client.shutdown() } }
            let count = 10_000
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<count {
                    group.addTask {
                        let value = ByteBuffer(string: "value-\(index)-" + String(repeating: "x", count: index % 200))
                        try await client.set("pipelined-\(index)", value: value)
                        return try await client.get("pipelined-\(index)") == value ? 0 : 1
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            let stats = try await server.info("stats")
            // Two connections (plus the probes of the test harness) carried all of it.
            #expect(Int(stats["total_connections_received"] ?? "") ?? 0 <= 10)
        }
    }

    @Test func aTaskOnAConnectionsEventLoopKeepsToThatConnection() async throws {
        try await withRedisServer { server in
            let loops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
            var configuration = RedisClientConfiguration()
            configuration.connectionsPerNode = 2
            let client = try RedisClient(
                server: try RedisServer(url: "redis://\(server.endpoint)"),
                configuration: configuration,
                eventLoopGroup: loops
            )
            // CLIENT ID names the connection a command went over.
            @Sendable func connectionIDs(_ count: Int) async throws -> Set<Int64> {
                var ids: Set<Int64> = []
                for _ in 0..<count {
                    guard case .integer(let id) = try await client.send(RESPCommand("CLIENT", "ID")) else {
                        throw RedisError(.protocolError, "CLIENT ID answered no integer")
                    }
                    ids.insert(id)
                }
                return ids
            }
            // From the global executor: round-robin over both connections (which opens both).
            let everyConnection = try await connectionIDs(10)
            #expect(everyConnection.count == 2)
            // From a task on a connection's event loop: that connection only, so no thread hop.
            var seen: Set<Int64> = []
            for loop in loops.makeIterator() {
                let ids = try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) { try await connectionIDs(10) }
                #expect(ids.count == 1)
                seen.formUnion(ids)
            }
            #expect(seen == everyConnection)
            await client.shutdown()
            try await loops.shutdownGracefully()
        }
    }

    @Test func aValueOverTheConfiguredMaximumIsRefusedBeforeSending() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server) { $0.maximumValueLength = 1024 }
            defer { Task { await client.shutdown() } }
            let error = await #expect(throws: RedisError.self) {
                try await client.set("big", value: ByteBuffer(repeating: 0x61, count: 1025))
            }
            #expect(error?.code == .invalidArgument)
            try await client.set("small", value: ByteBuffer(repeating: 0x61, count: 1024))
        }
    }

    /// Redis refuses an argument over its `proto-max-bulk-len` with a protocol error and closes the
    /// connection: the value is to blame (not the node), and the next command gets a new connection.
    @Test(arguments: [2 << 20, 64 << 20])
    func aValueOverTheServersProtoMaxBulkLenIsAnInvalidArgumentAndTheNodeKeepsWorking(size: Int) async throws {
        try await withRedisServer(extraArguments: ["--proto-max-bulk-len", "1mb"]) { server in
            let client = try makeClient(server) { $0.connectionsPerNode = 1 }
            defer { Task { await client.shutdown() } }
            try await client.set("k", value: ByteBuffer(string: "old"))
            // Several rounds, each followed at once by another command: none may land on the
            // connection Redis is dropping.
            for _ in 0..<5 {
                let error = await #expect(throws: RedisError.self) {
                    try await client.set("k", value: ByteBuffer(repeating: 0x61, count: size))
                }
                #expect(error?.code == .invalidArgument, "\(String(describing: error))")
                #expect(error?.isNodeFailure == false)
                #expect(try await client.get("k") == ByteBuffer(string: "old"), "Redis kept the old value")
            }
        }
    }

    @Test func aKilledNodeFailsEveryCommandInFlightPromptlyAndTheClientReconnects() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server) {
                $0.operationTimeout = .seconds(20)
                $0.maximumReconnectDelay = .milliseconds(200)
            }
            defer { Task { await client.shutdown() } }
            try await client.set("k", value: ByteBuffer(string: "v"))

            server.suspend()
            let clock = ContinuousClock()
            let start = clock.now
            async let outcomes: [RedisError?] = withTaskGroup(of: RedisError?.self) { group in
                for _ in 0..<500 {
                    group.addTask {
                        do throws(RedisError) {
                            _ = try await client.get("k")
                            return nil
                        } catch { return error }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            try await Task.sleep(for: .milliseconds(300))
            await server.kill()
            let errors = await outcomes
            #expect(errors.count == 500)
            #expect(errors.allSatisfy { $0 != nil && $0!.isNodeFailure })
            #expect(errors.contains { $0?.code == .connectionClosed })
            #expect(clock.now - start < .seconds(10), "commands waited for the 20 s timeout instead of failing when the node died")

            let downError = await #expect(throws: RedisError.self) { try await client.get("k") }
            #expect(downError?.isNodeFailure == true)

            try await server.restart()
            try await retryUntilSuccess { try await client.set("back", value: ByteBuffer(string: "1")) }
            #expect(try await client.get("back") == ByteBuffer(string: "1"))
        }
    }

    @Test func aStoppedNodeCostsAtMostTheTimeoutAndRecoversAfterSIGCONT() async throws {
        try await withRedisServer(password: "pw") { server in
            let client = try makeClient(server, credentials: ":pw@") {
                $0.operationTimeout = .milliseconds(300)
                $0.maximumReconnectDelay = .milliseconds(200)
            }
            defer { Task { await client.shutdown() } }
            try await client.set("k", value: ByteBuffer(string: "v"))

            server.suspend()
            let clock = ContinuousClock()
            for _ in 0..<3 {
                let start = clock.now
                let error = await #expect(throws: RedisError.self) { try await client.get("k") }
                #expect(error?.isNodeFailure == true)
                #expect(clock.now - start < .seconds(3), "a call to a stopped node took \(clock.now - start)")
            }
            server.resume()
            // The reconnect authenticates again before carrying commands.
            try await retryUntilSuccess { _ = try await client.get("k") }
            #expect(try await client.get("k") == ByteBuffer(string: "v"))
        }
    }

    @Test func aPipelinedBatchAnswersEveryCommandInOrderAndAnErrorReplyFailsOnlyItsOwn() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server) { $0.connectionsPerNode = 1 }
            defer { Task { await client.shutdown() } }
            _ = try await client.send(RESPCommand("LPUSH", "a-list", "x"))
            var batch: [RESPCommand] = []
            for index in 0..<1000 {
                batch.append(try .set("batch-\(index)", ByteBuffer(string: "value-\(index)")))
                batch.append(try .get("batch-\(index)"))
            }
            batch.insert(try .get("a-list"), at: 500)  // WRONGTYPE in the middle
            let replies = try await client.pipeline(batch)
            #expect(replies.count == 2001)
            let wrongType = replies[500]
            guard case .failure(let error) = wrongType else {
                Issue.record("WRONGTYPE not reported")
                return
            }
            #expect(error.code == .wrongType)
            var answered = replies
            answered.remove(at: 500)
            for index in 0..<1000 {
                #expect((try? answered[2 * index].get()) == .simpleString("OK"))
                #expect((try? answered[2 * index + 1].get()) == .bulkString(ByteBuffer(string: "value-\(index)")))
            }
            #expect(try await client.pipeline([]).isEmpty)
            let refused = await #expect(throws: RedisError.self) { try await client.pipeline([.ping(), RESPCommand("MULTI")]) }
            #expect(refused?.code == .invalidArgument)
        }
    }

    @Test func aBatchInFlightWhenTheNodeDiesFailsEveryCommandPromptly() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server) {
                $0.operationTimeout = .seconds(20)
                $0.connectionsPerNode = 1  // the batch goes onto the open connection, not a new one
            }
            defer { Task { await client.shutdown() } }
            try await client.ping()
            server.suspend()
            let clock = ContinuousClock()
            let start = clock.now
            async let replies = client.pipeline((0..<100).map { _ in RESPCommand.ping() })
            try await Task.sleep(for: .milliseconds(300))
            await server.kill()
            let results = try await replies
            #expect(results.count == 100)
            #expect(results.allSatisfy { if case .failure(let error) = $0 { return error.isNodeFailure } else { return false } })
            #expect(clock.now - start < .seconds(10))
        }
    }

    /// Redis answers an argument over its `proto-max-bulk-len` with a protocol error and drops the
    /// connection: the command is refused as too large, the one behind it is told it was reset by
    /// another's failure (not the node's: it may be retried), and the node serves on.
    @Test func aCommandBehindAnOversizedOneIsResetNotFailedWithIt() async throws {
        try await withRedisServer(extraArguments: ["--proto-max-bulk-len", "1mb"]) { server in
            let client = try makeClient(server) { $0.connectionsPerNode = 1 }
            defer { Task { await client.shutdown() } }
            try await client.set("small", value: ByteBuffer(string: "v"))
            let replies = try await client.pipeline([
                try .set("big", ByteBuffer(repeating: 0x61, count: 2 << 20)), try .get("small"),
            ])
            guard case .failure(let refused) = replies[0], case .failure(let reset) = replies[1] else {
                Issue.record("expected both to fail: \(replies)")
                return
            }
            #expect(refused.code == .invalidArgument)
            #expect(reset.code == .connectionReset)
            #expect(!reset.isNodeFailure)
            #expect(try await client.get("small") == ByteBuffer(string: "v"))
        }
    }

    @Test func commandsThatWouldDesynchronizeASharedConnectionAreRefusedBeforeSending() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server) { $0.connectionsPerNode = 1 }
            defer { Task { await client.shutdown() } }
            try await client.set("k", value: ByteBuffer(string: "v"))
            let before = try await server.info("stats")["total_commands_processed"]
            for command in [
                RESPCommand("SELECT", 2), RESPCommand("multi"), RESPCommand("SUBSCRIBE", "news"),
                RESPCommand("CLIENT", "REPLY", "SKIP"), RESPCommand("client", ByteBuffer(string: "reply"), "off"),
                RESPCommand("MONITOR"), RESPCommand("RESET"), RESPCommand("QUIT"),
            ] {
                let error = await #expect(throws: RedisError.self) { try await client.send(command) }
                #expect(error?.code == .invalidArgument, "\(command)")
            }
            // Nothing reached the server (the INFO of this check is the only command counted).
            let after = try await server.info("stats")["total_commands_processed"]
            #expect(after.flatMap { Int($0) } == before.flatMap { Int($0) }.map { $0 + 1 })
            #expect(try await client.get("k") == ByteBuffer(string: "v"))
            #expect(try await client.send(RESPCommand("CLIENT", "ID")) != .null)
        }
    }

    @Test func aRefusedAuthNeverQuotesThePasswordBack() async throws {
        // With AUTH renamed away, Redis answers "unknown command 'AUTH', with args beginning with: '<password>'".
        try await withRedisServer(extraArguments: ["--rename-command", "AUTH", ""]) { server in
            let client = try makeClient(server, credentials: ":scrub-me-42@") { $0.connectionsPerNode = 1 }
            defer { Task { await client.shutdown() } }
            let error = await #expect(throws: RedisError.self) { try await client.ping() }
            #expect(error?.message.contains("authenticating") == true)
            #expect(error.map { !"\($0)".contains("scrub-me-42") } == true, "\(String(describing: error))")
            var dumped = ""
            dump(RESPCommand.auth(password: "scrub-me-42"), to: &dumped)
            #expect(!dumped.contains("scrub-me-42"))
        }
    }

    @Test func nothingListeningFailsFastAndBacksOff() async throws {
        let port = try FreeLoopbackPort.allocate()
        var configuration = RedisClientConfiguration()
        configuration.initialReconnectDelay = .seconds(5)
        configuration.connectionsPerNode = 1
        let client = try RedisClient(server: try RedisServer(url: "redis://:topsecret@127.0.0.1:\(port)"), configuration: configuration)
        defer { Task { await client.shutdown() } }
        let first = await #expect(throws: RedisError.self) { try await client.ping() }
        #expect(first?.code == .connectFailed)
        #expect(first?.description.contains("127.0.0.1:\(port)") == true)
        #expect(first?.description.contains("topsecret") == false)
        let second = await #expect(throws: RedisError.self) { try await client.ping() }
        #expect(second?.code == .nodeUnavailable)
        #expect(second?.description.contains("topsecret") == false)
    }

    @Test func badConfigurationsAndServersAreTypedErrors() async throws {
        var configuration = RedisClientConfiguration()
        configuration.connectionsPerNode = 0
        let invalid = #expect(throws: RedisError.self) {
            try RedisClient(server: RedisServer(host: "127.0.0.1"), configuration: configuration)
        }
        #expect(invalid?.code == .invalidArgument)
        let badPort = #expect(throws: RedisError.self) { try RedisClient(server: RedisServer(host: "127.0.0.1", port: 0)) }
        #expect(badPort?.code == .invalidAddress)
    }

    @Test func gracefulShutdownDrainsInFlightCommandsThenRefusesNewOnes() async throws {
        try await withRedisServer { server in
            let client = try makeClient(server)
            try await client.set("k", value: ByteBuffer(string: "v"))
            let serviceGroup = ServiceGroup(configuration: .init(services: [client], logger: Logger(label: "test")))
            async let running: Void = serviceGroup.run()

            let results = await withTaskGroup(of: RedisError?.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        if index == 100 { await serviceGroup.triggerGracefulShutdown() }
                        do throws(RedisError) {
                            _ = try await client.get("k")
                            return nil
                        } catch { return error }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            try await running
            #expect(results.allSatisfy { $0 == nil || $0?.code == .clientShutdown })
            let after = await #expect(throws: RedisError.self) { try await client.get("k") }
            #expect(after?.code == .clientShutdown)
        }
    }
}
