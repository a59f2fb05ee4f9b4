import Logging
import Synchronization

/// A held session lock: a store key only its owner's token may release.
struct SessionLock: Sendable {
    var node: Int
    var key: String
    var token: [UInt8]
}

/// Non-sticky session locks as store keys: acquired atomically with add-if-absent and an expiry
/// (so a crashed owner cannot block a session forever), retried with exponential backoff until
/// a deadline, released only by their owner (compare-and-swap delete of our own token).
struct SessionLocking: Sendable {
    let expirationSeconds: Int
    let metrics: SessionMetrics

    enum Outcome {
        case acquired(SessionLock)
        /// The lock node is unreachable: locking is moot, the load will fail over.
        case nodeUnavailable
        case timedOut
    }

    /// Tries until `deadline`, the last attempt at the deadline itself.
    func acquire(key: String, node: Int, on nodes: SessionNodes, deadline: ContinuousClock.Instant, logger: Logger) async -> Outcome {
        let token = Array(SessionID.generate(nodeID: nil, route: nil).random.utf8)
        let clock = ContinuousClock()
        let start = clock.now
        var delay = Duration.milliseconds(10)
        while true {
            do {
                if try await nodes.store(node).add(key, value: token, expirationSeconds: expirationSeconds) {
                    metrics.lockAcquired.increment()
                    metrics.lockWait.recordNanoseconds(Int64((clock.now - start).nanosecondsClamped))
                    return .acquired(SessionLock(node: node, key: key, token: token))
                }
            } catch {
                if error.kind == .nodeUnavailable { nodes.markDown(node, because: error) }
                logger.warning("session lock not acquired: store failed", metadata: ["lock": "\(key)", "error": "\(error.message)"])
                return .nodeUnavailable
            }
            let remaining = deadline - clock.now
            guard remaining > .zero else {
                metrics.lockFailures.increment()
                logger.warning("session lock not acquired in time", metadata: ["lock": "\(key)", "waited": "\(clock.now - start)"])
                return .timedOut
            }
            // A cancelled request stops asking (its sleeps would return at once: a busy loop of
            // `add` until the deadline); the open runs in the request's own task.
            guard !Task.isCancelled else {
                metrics.lockFailures.increment()
                return .timedOut
            }
            try? await Task.sleep(for: min(delay, remaining))
            delay = min(delay * 2, .milliseconds(500))
        }
    }

    func release(_ lock: SessionLock, on nodes: SessionNodes, logger: Logger) async {
        let store = nodes.store(lock.node)
        do {
            guard try await store.delete(lock.key, ifValueIs: lock.token) else {
                logger.warning("session lock expired before release; another request may have held it", metadata: ["lock": "\(lock.key)"])
                return
            }
        } catch {
            logger.warning("session lock not released (it expires by itself)", metadata: ["lock": "\(lock.key)", "error": "\(error.message)"])
        }
    }
}

/// msm's ReadOnlyRequestsCache for `lockingMode=auto`: requests (method and path) seen to leave
/// the session unchanged stop locking; one seen to modify it locks for good.
final class ReadOnlyRequests: Sendable {
    private struct State {
        var readOnly: Set<String> = []
        var modifying: Set<String> = []
    }
    private let state = Mutex(State())
    private let capacity = 10_000

    func isReadOnly(_ request: String) -> Bool {
        state.withLock { $0.readOnly.contains(request) && !$0.modifying.contains(request) }
    }

    func record(_ request: String, modified: Bool) {
        state.withLock { state in
            if modified {
                if state.modifying.count >= capacity * 5 { state.modifying.removeAll(keepingCapacity: true) }
                state.modifying.insert(request)
                state.readOnly.remove(request)
            } else if !state.modifying.contains(request) {
                if state.readOnly.count >= capacity { state.readOnly.removeAll(keepingCapacity: true) }
                state.readOnly.insert(request)
            }
        }
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at both ends (the same rule as PipelinedConnections' twin,
    /// which the core cannot import): metrics timers take `Int64` nanoseconds.
    var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return seconds < 0 ? .min : .max }
        let (sum, sumOverflow) = scaled.addingReportingOverflow(attoseconds / 1_000_000_000)
        return sumOverflow ? (seconds < 0 ? .min : .max) : sum
    }
}
