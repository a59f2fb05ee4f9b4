import SessionManager
import SessionManagerTesting
import Testing

/// The faults users inject in their own tests behave like the server troubles they stand for.
@Suite struct FaultInjectingSessionStoreTests {
    @Test func withoutAFaultOperationsReachTheWrappedNodeAndAreCounted() async throws {
        let memory = MemorySessionStore()
        let node = FaultInjectingSessionStore(memory)
        try await node.set("k", value: [1], expirationSeconds: 0)
        #expect(try await node.get("k") == [1])
        #expect(try await node.add("k", value: [2], expirationSeconds: 0) == false)
        #expect(try await node.delete("k", ifValueIs: [1]))
        try await node.ping()
        #expect(node.counts == .init(gets: 1, sets: 1, adds: 1, deletes: 1, pings: 1))
        #expect(memory.count == 0)
    }

    @Test func aDownNodeFailsAtOnceAsUnavailable() async throws {
        let node = FaultInjectingSessionStore(MemorySessionStore(), timeout: .seconds(30))
        node.fault = .down
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: SessionStoreError.self) { _ = try await node.get("k") }
        #expect(error?.kind == .nodeUnavailable)
        #expect(clock.now - start < .seconds(5), "down fails fast, it does not wait for the timeout")
        #expect(node.counts.gets == 1, "a failed operation still counts as attempted")
    }

    @Test func aHungNodeFailsAfterItsTimeout() async throws {
        let node = FaultInjectingSessionStore(MemorySessionStore(), timeout: .milliseconds(100))
        node.fault = .hung
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: SessionStoreError.self) { try await node.ping() }
        #expect(error?.kind == .nodeUnavailable)
        #expect(clock.now - start >= .milliseconds(100))
    }

    @Test func liftingTheHangAnswersTheWaitingOperation() async throws {
        let node = FaultInjectingSessionStore(MemorySessionStore(), timeout: .seconds(30))
        try await node.set("k", value: [7], expirationSeconds: 0)
        node.fault = .hung
        async let value = node.get("k")
        try await Task.sleep(for: .milliseconds(50))
        node.fault = nil
        #expect(try await value == [7])
    }

    @Test func aNodeThatGoesDownWhileHungFailsItsWaiters() async throws {
        let node = FaultInjectingSessionStore(MemorySessionStore(), timeout: .seconds(30))
        node.fault = .hung
        let clock = ContinuousClock()
        let start = clock.now
        let waiter = Task { try await node.get("k") }
        try await Task.sleep(for: .milliseconds(50))
        node.fault = .down
        let error = await #expect(throws: SessionStoreError.self) { _ = try await waiter.value }
        #expect(error?.message.contains("went down") == true)
        #expect(clock.now - start < .seconds(5), "woken by the fault, not by its 30 s timeout")
    }

    @Test func theMemoryStoreRefusesValuesOverItsLimitAndForgetsOnRemoveAll() async throws {
        let memory = MemorySessionStore(maximumValueSize: 4)
        let error = await #expect(throws: SessionStoreError.self) { try await memory.set("k", value: [1, 2, 3, 4, 5], expirationSeconds: 0) }
        #expect(error?.kind == .valueTooLarge)
        try await memory.set("k", value: [1, 2, 3, 4], expirationSeconds: 0)
        memory.removeAll()
        #expect(try await memory.get("k") == nil)
    }

    @Test func aManualClockAddsUpSmallStepsAndAgesTheMemoryStore() async throws {
        let clock = ManualSessionClock(startingAt: 1_000)
        for _ in 0..<4 { clock.advance(by: .microseconds(500)) }
        #expect(clock.nowMilliseconds() == 1_002)
        let memory = MemorySessionStore(clock: clock)
        try await memory.set("k", value: [1], expirationSeconds: 2)
        clock.advance(by: .milliseconds(1_999))
        #expect(try await memory.get("k") == [1])
        clock.advance(by: .milliseconds(1))
        #expect(try await memory.get("k") == nil, "expired exactly at its second")
        #expect(memory.count == 0)
    }
}
