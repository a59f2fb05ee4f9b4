import Synchronization

/// Turns on a session for the locking requests of this process, one at a time in arrival order.
///
/// The store lock keeps app servers apart; this keeps one server's own concurrent requests apart,
/// which the store lock cannot: they would otherwise share one in-memory session and run their
/// read-modify-write handlers in parallel (issue 9). A turn can be handed to the next waiter
/// together with the still-held store lock and the just-stored session, which saves it the lock
/// round trip and the load: nobody else can have written the session in between.
final class SessionTurns: Sendable {
    /// The store lock and session a finishing request passes to the next one in line.
    struct Handoff: Sendable {
        var session: Session
        var lock: SessionLock
        /// When the store lock was acquired: a handoff must leave the next holder enough of its expiry.
        var lockedAt: ContinuousClock.Instant
        /// How many requests in a row have held this lock.
        var holders: Int
    }

    enum Grant: Sendable {
        /// The caller holds the turn, with the previous holder's lock and session if it passed them.
        case granted(Handoff?)
        case timedOut
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Grant, Never>
        var timeout: Task<Void, Never>?
    }

    private struct State {
        /// A key is present while someone holds the turn; its array holds those waiting, in order.
        var queues: [String: [Waiter]] = [:]
        var nextWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Waits for the turn on the session `random`, at most `timeout`.
    func take(_ random: String, timeout: Duration) async -> Grant {
        let free = state.withLock { state -> Bool in
            guard state.queues[random] == nil else { return false }
            state.queues[random] = []
            return true
        }
        if free { return .granted(nil) }
        return await withCheckedContinuation { (continuation: CheckedContinuation<Grant, Never>) in
            let waiterID = state.withLock { state -> UInt64? in
                guard state.queues[random] != nil else {
                    state.queues[random] = []
                    return nil
                }
                state.nextWaiterID &+= 1
                state.queues[random]!.append(Waiter(id: state.nextWaiterID, continuation: continuation))
                return state.nextWaiterID
            }
            guard let waiterID else {
                continuation.resume(returning: .granted(nil))
                return
            }
            let timer = Task {
                try? await Task.sleep(for: timeout)
                self.expire(random, waiterID)
            }
            let granted = state.withLock { state -> Bool in
                guard let index = state.queues[random]?.firstIndex(where: { $0.id == waiterID }) else { return true }
                state.queues[random]![index].timeout = timer
                return false
            }
            if granted { timer.cancel() }
        }
    }

    /// Passes the turn, with `handoff`, to the next waiter; `false` (the turn is still the
    /// caller's) when nobody waits.
    func handOff(_ random: String, _ handoff: Handoff) -> Bool {
        guard let next = dequeue(random, removingWhenEmpty: false) else { return false }
        next.timeout?.cancel()
        next.continuation.resume(returning: .granted(handoff))
        return true
    }

    /// Ends the caller's turn: the next waiter gets it (and must lock and load for itself).
    func end(_ random: String) {
        guard let next = dequeue(random, removingWhenEmpty: true) else { return }
        next.timeout?.cancel()
        next.continuation.resume(returning: .granted(nil))
    }

    /// Sessions with a turn held, for tests.
    var heldCount: Int { state.withLock { $0.queues.count } }

    /// Requests waiting for the turn on `random`, for tests.
    func waiting(_ random: String) -> Int { state.withLock { $0.queues[random]?.count ?? 0 } }

    private func dequeue(_ random: String, removingWhenEmpty: Bool) -> Waiter? {
        state.withLock { state -> Waiter? in
            guard let waiters = state.queues[random], !waiters.isEmpty else {
                if removingWhenEmpty { state.queues[random] = nil }
                return nil
            }
            return state.queues[random]!.removeFirst()
        }
    }

    private func expire(_ random: String, _ waiterID: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.queues[random]?.firstIndex(where: { $0.id == waiterID }) else { return nil }
            return state.queues[random]!.remove(at: index)
        }
        waiter?.continuation.resume(returning: .timedOut)
    }
}
