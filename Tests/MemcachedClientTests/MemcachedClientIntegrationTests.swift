import Logging
import NIOCore
import ServerTestSupport
import ServiceLifecycle
import Testing

@testable import MemcachedClient

/// Against real memcached processes these tests start themselves, so they can kill, stop and
/// restart them. Serialized: the fault tests measure waits, and a 2-core machine running
/// several memcached floods at once would blur them.
@Suite(.serialized) struct MemcachedClientIntegrationTests {
    private func makeClient(
        _ server: MemcachedServerProcess,
        configure: (inout MemcachedClientConfiguration) -> Void = { _ in }
    ) throws -> MemcachedClient {
        var configuration = MemcachedClientConfiguration()
        configure(&configuration)
        return try MemcachedClient(server: MemcachedServer(host: server.host, port: server.port), configuration: configuration)
    }

    private func key(_ text: String) throws(MemcachedError) -> MemcachedKey { try MemcachedKey(text) }

    @Test func everyOperation() async throws {
        try await withMemcachedServer { server in
            let client = try makeClient(server)
            defer { Task { await client.shutdown() } }

            #expect(try await client.version().hasPrefix("1."))
            try await client.noop()

            // set / get with flags, CAS and TTL
            #expect(try await client.get(key("missing")) == nil)
            try await client.set(key("a"), value: ByteBuffer(string: "alpha"), flags: 42)
            let item = try #require(try await client.get(key("a")))
            #expect(item.value == ByteBuffer(string: "alpha"))
            #expect(item.flags == 42)
            #expect(item.cas != 0)
            #expect(item.timeToLive == nil)

            // add / replace
            #expect(try await client.add(key("a"), value: ByteBuffer(string: "other")) == false)
            #expect(try await client.add(key("b"), value: ByteBuffer(string: "beta")))
            #expect(try await client.store(key("nope"), value: ByteBuffer(string: "x"), mode: .replace) == .notStored)
            #expect(try await client.store(key("b"), value: ByteBuffer(string: "beta2"), mode: .replace) != .notStored)
            #expect(try await client.store(key("b"), value: ByteBuffer(string: "+"), mode: .append) != .notStored)
            #expect(try await client.get(key("b"))?.value == ByteBuffer(string: "beta2+"))

            // compare-and-swap
            guard case .stored(let newCAS) = try await client.store(key("a"), value: ByteBuffer(string: "v2"), cas: item.cas) else {
                Issue.record("CAS store with the current token failed")
                return
            }
            #expect(newCAS != item.cas)
            #expect(try await client.store(key("a"), value: ByteBuffer(string: "v3"), cas: item.cas) == .exists)
            #expect(try await client.store(key("gone"), value: ByteBuffer(string: "v3"), cas: 1) == .notFound)
            #expect(try await client.get(key("a"))?.value == ByteBuffer(string: "v2"))

            // delete
            #expect(try await client.delete(key("a"), cas: item.cas) == .exists)
            #expect(try await client.delete(key("a")) == .deleted)
            #expect(try await client.delete(key("a")) == .notFound)

            // touch and touch-on-read
            #expect(try await client.touch(key("b"), expiration: .seconds(100)))
            #expect(try await client.touch(key("missing"), expiration: .seconds(100)) == false)
            let touched = try #require(try await client.get(key("b"), touching: .seconds(500)))
            #expect(touched.timeToLive == .seconds(100) || touched.timeToLive == .seconds(99))
            let ttl = try #require(try await client.get(key("b"))?.timeToLive)
            #expect(ttl > .seconds(400) && ttl <= .seconds(500))

            // counters
            #expect(try await client.increment(key("n")) == nil)
            #expect(try await client.increment(key("n"), initial: (10, .never)) == 10)
            #expect(try await client.increment(key("n"), by: 5) == 15)
            #expect(try await client.decrement(key("n"), by: 20) == 0)
            let notNumber = await #expect(throws: MemcachedError.self) { try await client.increment(key("b")) }
            #expect(notNumber?.code == .invalidValue)
            // ...and the connection stayed in step.
            #expect(try await client.get(key("b"))?.value == ByteBuffer(string: "beta2+"))
        }
    }

    @Test func itemsExpire() async throws {
        try await withMemcachedServer { server in
            let client = try makeClient(server)
            defer { Task { await client.shutdown() } }
            try await client.set(key("short"), value: ByteBuffer(string: "x"), expiration: .seconds(1))
            try await client.set(key("long"), value: ByteBuffer(string: "y"), expiration: .seconds(60))
            #expect(try await client.get(key("short")) != nil)
            try await Task.sleep(for: .milliseconds(2500))
            #expect(try await client.get(key("short")) == nil)
            #expect(try await client.get(key("long")) != nil)
        }
    }

    @Test func concurrentCASWritersNeverLoseAnUpdate() async throws {
        try await withMemcachedServer { server in
            let client = try makeClient(server)
            defer { Task { await client.shutdown() } }
            let counter = try key("counter")
            try await client.set(counter, value: ByteBuffer(string: "0"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        for _ in 0..<10 {
                            while true {
                                let item = try #require(try await client.get(counter))
                                let next = Int(String(buffer: item.value))! + 1
                                if case .stored = try await client.store(counter, value: ByteBuffer(string: "\(next)"), cas: item.cas) { break }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await client.get(counter)?.value == ByteBuffer(string: "200"))
        }
    }

    @Test func aValueOverTheItemSizeLimitIsATypedErrorAndTheConnectionSurvives() async throws {
        try await withMemcachedServer(maxItemSize: "1m") { server in
            let client = try makeClient(server) { $0.connectionsPerNode = 1 }
            defer { Task { await client.shutdown() } }
            try await client.set(key("before"), value: ByteBuffer(string: "ok"))
            let big = ByteBuffer(repeating: 0x61, count: 2 * 1024 * 1024)
            let error = await #expect(throws: MemcachedError.self) { try await client.set(key("big"), value: big) }
            #expect(error?.code == .itemTooLarge)
            #expect(try await client.get(key("before"))?.value == ByteBuffer(string: "ok"))
            #expect(try await client.get(key("big")) == nil)
        }
    }

    @Test func tenThousandConcurrentPipelinedRequestsAreAllAnsweredCorrectly() async throws {
        try await withMemcachedServer { server in
            let client = try makeClient(server) { $0.operationTimeout = .seconds(10) }
            defer { Task { await client.shutdown() } }
            let count = 10_000
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<count {
                    group.addTask {
                        let key = try MemcachedKey("pipelined-\(index)")
                        let value = ByteBuffer(string: "value-\(index)-" + String(repeating: "x", count: index % 200))
                        try await client.set(key, value: value)
                        let read = try await client.get(key)
                        return read?.value == value ? 0 : 1
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            let stats = try await server.stats()
            #expect(Int(stats["cmd_get"] ?? "") ?? 0 >= count)
            // Two connections carried all of it: pipelining, not a connection per request.
            #expect(Int(stats["total_connections"] ?? "") ?? 0 <= 10)
        }
    }

    @Test func aKilledNodeFailsEveryRequestInFlightPromptlyAndTheClientReconnects() async throws {
        try await withMemcachedServer { server in
            let client = try makeClient(server) {
                $0.operationTimeout = .seconds(20)
                $0.maximumReconnectDelay = .milliseconds(200)
            }
            defer { Task { await client.shutdown() } }
            try await client.set(key("k"), value: ByteBuffer(string: "v"))

            // Stop the node so requests pile up in flight, then kill it under them.
            server.suspend()
            let clock = ContinuousClock()
            let start = clock.now
            async let outcomes: [MemcachedError?] = withTaskGroup(of: MemcachedError?.self) { group in
                for _ in 0..<500 {
                    group.addTask {
                        do throws(MemcachedError) {
                            _ = try await client.get(self.key("k"))
                            return nil
                        } catch { return error }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            try await Task.sleep(for: .milliseconds(300))
            await server.kill()
            let errors = await outcomes
            let elapsed = clock.now - start
            #expect(errors.count == 500)
            #expect(
                errors.allSatisfy { $0 != nil && $0!.isNodeFailure },
                "\(Dictionary(grouping: errors, by: { $0.map { "\($0.code)" } ?? "success" }).mapValues(\.count))")
            #expect(errors.contains { $0?.code == .connectionClosed })
            #expect(elapsed < .seconds(10), "requests waited for the 20 s timeout instead of failing when the node died")

            // While the node is down, requests fail fast rather than hang.
            let downError = await #expect(throws: MemcachedError.self) { try await client.get(self.key("k")) }
            #expect(downError?.isNodeFailure == true)

            try await server.restart()
            try await retryUntilSuccess { try await client.set(self.key("back"), value: ByteBuffer(string: "1")) }
            #expect(try await client.get(key("back"))?.value == ByteBuffer(string: "1"))
        }
    }

    @Test func aStoppedNodeCostsAtMostTheTimeoutAndRecoversAfterSIGCONT() async throws {
        try await withMemcachedServer { server in
            let client = try makeClient(server) {
                $0.operationTimeout = .milliseconds(300)
                $0.maximumReconnectDelay = .milliseconds(200)
            }
            defer { Task { await client.shutdown() } }
            try await client.set(key("k"), value: ByteBuffer(string: "v"))

            server.suspend()
            let clock = ContinuousClock()
            for _ in 0..<3 {
                let start = clock.now
                let error = await #expect(throws: MemcachedError.self) { try await client.get(self.key("k")) }
                let elapsed = clock.now - start
                #expect(error?.isNodeFailure == true)
                // 300 ms timeout, generous slack for a loaded CI machine; a hang would be unbounded.
                #expect(elapsed < .seconds(3), "a call to a stopped node took \(elapsed)")
            }
            server.resume()
            try await retryUntilSuccess { _ = try await client.get(self.key("k")) }
            #expect(try await client.get(key("k"))?.value == ByteBuffer(string: "v"))
        }
    }

    @Test func nothingListeningFailsFastAndBacksOff() async throws {
        let port = try FreeLoopbackPort.allocate()
        var configuration = MemcachedClientConfiguration()
        configuration.initialReconnectDelay = .seconds(5)
        let client = try MemcachedClient(server: MemcachedServer(parsing: "127.0.0.1:\(port)"), configuration: configuration)
        defer { Task { await client.shutdown() } }
        let first = await #expect(throws: MemcachedError.self) { try await client.noop() }
        #expect(first?.code == .connectFailed)
        #expect(first?.description.contains("127.0.0.1:\(port)") == true)
        let second = await #expect(throws: MemcachedError.self) { try await client.noop() }
        #expect(second?.code == .nodeUnavailable || second?.code == .connectFailed)
    }

    @Test func badServersAndConfigurationsAreTypedErrors() async throws {
        let badPort = #expect(throws: MemcachedError.self) { try MemcachedClient(server: MemcachedServer(host: "127.0.0.1", port: 0)) }
        #expect(badPort?.code == .invalidAddress)
        var configuration = MemcachedClientConfiguration()
        configuration.connectionsPerNode = 0
        let invalid = #expect(throws: MemcachedError.self) {
            try MemcachedClient(server: MemcachedServer(host: "127.0.0.1"), configuration: configuration)
        }
        #expect(invalid?.code == .invalidValue)
    }

    @Test func gracefulShutdownDrainsInFlightRequestsThenRefusesNewOnes() async throws {
        try await withMemcachedServer { server in
            let client = try makeClient(server)
            try await client.set(key("k"), value: ByteBuffer(string: "v"))
            let serviceGroup = ServiceGroup(configuration: .init(services: [client], logger: Logger(label: "test")))
            async let running: Void = serviceGroup.run()

            let results = await withTaskGroup(of: MemcachedError?.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        if index == 100 { await serviceGroup.triggerGracefulShutdown() }
                        do throws(MemcachedError) {
                            _ = try await client.get(self.key("k"))
                            return nil
                        } catch { return error }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            try await running
            #expect(results.allSatisfy { $0 == nil || $0?.code == .clientShutdown })
            let after = await #expect(throws: MemcachedError.self) { try await client.get(self.key("k")) }
            #expect(after?.code == .clientShutdown)
        }
    }
}
