import ServerTestSupport
import SessionManager
import SessionManagerTestSupport
import Testing

/// What the session core relies on from every ``SessionStoreNode``, checked the same way on the
/// memory store, on memcached (`MemcachedSessionStore`) and on Redis (`RedisSessionStore`): a
/// store that passes here gives the manager msm's semantics.
@Suite struct SessionStoreConformanceTests {
    /// One node of a fresh single-node cluster of `backend`.
    private func withNode(
        _ backend: StoreBackend, maxItemSize: String? = nil, _ body: (any SessionStoreNode, StoreTestCluster) async throws -> Void
    ) async throws {
        try await StoreTestCluster.with(backend: backend, nodes: ["s1"], maxItemSize: maxItemSize) { cluster in
            let topology = try cluster.makeTopology()
            try await body(topology.nodes[0].store, cluster)
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func setThenGetReturnsTheBytesAndAbsentKeysAreNil(backend: StoreBackend) async throws {
        try await withNode(backend) { (node, _) async throws in
            #expect(try await node.get("absent") == nil)
            let bytes: [UInt8] = [0, 1, 2, 255, 13, 10]  // binary, CR/LF included
            try await node.set("k", value: bytes, expirationSeconds: 60)
            #expect(try await node.get("k") == bytes)
            try await node.set("k", value: [7], expirationSeconds: 0)
            #expect(try await node.get("k") == [7], "set overwrites")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func addStoresOnlyWhenAbsent(backend: StoreBackend) async throws {
        try await withNode(backend) { (node, _) async throws in
            #expect(try await node.add("lock", value: [1], expirationSeconds: 5))
            #expect(try await node.add("lock", value: [2], expirationSeconds: 5) == false)
            #expect(try await node.get("lock") == [1], "a refused add leaves the holder's value")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func deleteSaysWhetherTheKeyExisted(backend: StoreBackend) async throws {
        try await withNode(backend) { (node, _) async throws in
            try await node.set("k", value: [1], expirationSeconds: 60)
            #expect(try await node.delete("k"))
            #expect(try await node.delete("k") == false)
            #expect(try await node.get("k") == nil)
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func onlyTheOwnerDeletesALock(backend: StoreBackend) async throws {
        try await withNode(backend) { (node, _) async throws in
            #expect(try await node.add("lock", value: [1, 1], expirationSeconds: 5))
            #expect(try await node.delete("lock", ifValueIs: [2, 2]) == false, "another owner's token")
            #expect(try await node.get("lock") == [1, 1])
            #expect(try await node.delete("lock", ifValueIs: [1, 1]))
            #expect(try await node.get("lock") == nil)
            #expect(try await node.delete("lock", ifValueIs: [1, 1]) == false, "already gone")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func valuesExpireAfterTheirSecondsAndZeroMeansNever(backend: StoreBackend) async throws {
        try await withNode(backend) { (node, cluster) async throws in
            try await node.set("short", value: [1], expirationSeconds: 1)
            try await node.set("forever", value: [2], expirationSeconds: 0)
            #expect(try await node.add("lock", value: [3], expirationSeconds: 1))
            // memcached's clock ticks in whole seconds: 1 s may last up to 2.
            try await cluster.elapse(.milliseconds(2_100))
            #expect(try await node.get("short") == nil)
            #expect(try await node.get("forever") == [2])
            #expect(try await node.add("lock", value: [4], expirationSeconds: 5), "an expired lock can be taken")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func aValueOverTheLimitIsTooLargeAndTheNodeStaysUsable(backend: StoreBackend) async throws {
        try await withNode(backend, maxItemSize: "1m") { (node, _) async throws in
            let tooLarge = [UInt8](repeating: 7, count: 2 << 20)
            let error = await #expect(throws: SessionStoreError.self) { try await node.set("big", value: tooLarge, expirationSeconds: 60) }
            #expect(error?.kind == .valueTooLarge)
            try await node.set("small", value: [1], expirationSeconds: 60)
            #expect(try await node.get("small") == [1])
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func aDeadNodeIsUnavailableAndARestartedOneIsEmpty(backend: StoreBackend) async throws {
        try await withNode(backend) { (node, cluster) async throws in
            try await node.ping()
            try await node.set("k", value: [1], expirationSeconds: 60)
            await cluster.node("s1").kill()
            let error = await #expect(throws: SessionStoreError.self) { _ = try await node.get("k") }
            #expect(error?.kind == .nodeUnavailable)
            try await cluster.node("s1").restart()
            var back: [UInt8]? = [0]
            try await retryUntilSuccess(within: .seconds(5)) { back = try await node.get("k") }  // the client reconnects
            #expect(back == nil, "a restarted node holds nothing")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func aFrozenNodeCostsAtMostTheOperationTimeout(backend: StoreBackend) async throws {
        try await withNode(backend) { (node, cluster) async throws in
            try await node.set("k", value: [1], expirationSeconds: 60)
            cluster.node("s1").suspend()
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: SessionStoreError.self) { _ = try await node.get("k") }
            #expect(error?.kind == .nodeUnavailable)
            // Bounded by the 1 s operation timeout; without one the call would never return. The
            // margin is for a loaded 2-core CI machine (3.6 s seen with two test runs at once).
            #expect(clock.now - start < .seconds(10), "bounded by the 1 s operation timeout")
            cluster.node("s1").resume()
            var value: [UInt8]?
            try await retryUntilSuccess(within: .seconds(5)) { value = try await node.get("k") }
            #expect(value == [1])
        }
    }
}
