import Synchronization
import Testing

@testable import SessionManager

/// The per-process turn queue of locking requests, without any store.
struct SessionTurnsTests {
    @Test func aFreeTurnIsGrantedAtOnceAndEndsClean() async {
        let turns = SessionTurns()
        guard case .granted(nil) = await turns.take("S1", timeout: .seconds(1)) else {
            Issue.record("expected a free turn")
            return
        }
        #expect(turns.heldCount == 1)
        turns.end("S1")
        #expect(turns.heldCount == 0)
    }

    @Test func turnsOnDifferentSessionsDoNotWaitForEachOther() async {
        let turns = SessionTurns()
        _ = await turns.take("S1", timeout: .seconds(1))
        guard case .granted(nil) = await turns.take("S2", timeout: .milliseconds(10)) else {
            Issue.record("another session's turn must be free")
            return
        }
    }

    @Test func waitersGetTheTurnOneAtATimeInArrivalOrder() async throws {
        let turns = SessionTurns()
        _ = await turns.take("S1", timeout: .seconds(1))
        let log = TurnLog()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for waiter in 0..<5 {
                group.addTask {
                    guard case .granted = await turns.take("S1", timeout: .seconds(30)) else {
                        Issue.record("waiter \(waiter) timed out")
                        return
                    }
                    log.enter(waiter)
                    try await Task.sleep(for: .milliseconds(5))
                    log.leave()
                    turns.end("S1")
                }
                // Each waiter queued before the next is started.
                #expect(try await eventually(every: .milliseconds(1)) { turns.waiting("S1") == waiter + 1 }, "waiter \(waiter) queued")
            }
            turns.end("S1")
            try await group.waitForAll()
        }
        #expect(log.order == [0, 1, 2, 3, 4])
        #expect(log.maximumInside == 1)
        #expect(turns.heldCount == 0)
    }

    @Test func aWaiterGivesUpAtItsTimeoutAndLeavesTheQueue() async {
        let turns = SessionTurns()
        _ = await turns.take("S1", timeout: .seconds(1))
        let clock = ContinuousClock()
        let start = clock.now
        guard case .timedOut = await turns.take("S1", timeout: .milliseconds(50)) else {
            Issue.record("the turn was held: the waiter must time out")
            return
        }
        #expect(clock.now - start >= .milliseconds(50))
        #expect(turns.waiting("S1") == 0)
        turns.end("S1")
        #expect(turns.heldCount == 0)
    }

    @Test func aHandoffReachesTheNextWaiterOnlyWhenThereIsOne() async throws {
        let turns = SessionTurns()
        _ = await turns.take("S1", timeout: .seconds(1))
        let stored = makeSession()
        let lock = SessionLock(node: 0, key: "lock:S1", token: [1, 2, 3])
        let handoff = SessionTurns.Handoff(session: stored, lock: lock, lockedAt: .now, holders: 2)
        #expect(!turns.handOff("S1", handoff), "nobody waits: the turn stays the caller's")
        #expect(turns.heldCount == 1)

        async let next = turns.take("S1", timeout: .seconds(30))
        #expect(try await eventually(every: .milliseconds(1)) { turns.waiting("S1") == 1 }, "the waiter queued")
        #expect(turns.handOff("S1", handoff))
        guard case .granted(let received?) = await next else {
            Issue.record("the waiter must receive the handoff")
            return
        }
        #expect(received.lock.token == [1, 2, 3])
        #expect(received.holders == 2)
        #expect(received.session === stored)
        turns.end("S1")
        #expect(turns.heldCount == 0)
    }
}

/// Who held a turn, in order, and how many at most at once.
private final class TurnLog: Sendable {
    private struct State {
        var order: [Int] = []
        var inside = 0
        var maximumInside = 0
    }
    private let state = Mutex(State())

    func enter(_ holder: Int) {
        state.withLock { state in
            state.order.append(holder)
            state.inside += 1
            state.maximumInside = max(state.maximumInside, state.inside)
        }
    }

    func leave() { state.withLock { $0.inside -= 1 } }
    var order: [Int] { state.withLock { $0.order } }
    var maximumInside: Int { state.withLock { $0.maximumInside } }
}
