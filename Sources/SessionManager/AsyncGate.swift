import Synchronization

/// A mutual-exclusion gate for async code: one holder at a time, others wait in FIFO order.
///
/// Concurrent requests sharing one session must store it one after another: two writes in
/// flight at once could reach the store in either order and the older snapshot would win.
final class AsyncGate: Sendable {
    private struct State {
        var isHeld = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func enter() async {
        // Uncontended (nearly always): no continuation, no suspension.
        let entered = state.withLock { state -> Bool in
            guard !state.isHeld else { return false }
            state.isHeld = true
            return true
        }
        if entered { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let entered = state.withLock { state -> Bool in
                guard state.isHeld else {
                    state.isHeld = true
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if entered { continuation.resume() }
        }
    }

    func leave() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.waiters.isEmpty else {
                state.isHeld = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
