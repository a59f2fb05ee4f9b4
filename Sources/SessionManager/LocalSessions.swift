import Synchronization

/// Sessions held in this process's memory, keyed by the random part of their id.
///
/// Sticky mode keeps them between requests, bounded: beyond `capacity` the least recently used
/// are dropped (they stay in the store and reload on their next request). Non-sticky mode keeps
/// a session only while requests use it, counting them, so concurrent requests of one process
/// that do not lock share one instance (msm #237); locking requests hold theirs alone
/// (``SessionTurns``).
final class LocalSessions: Sendable {
    private struct Entry {
        var session: Session
        var lastUse: UInt64
        var users: Int
    }

    typealias LoadResult = Result<Session?, SessionError>
    typealias Load = Task<LoadResult, Never>

    /// A store read in progress that concurrent requests for the same session wait on, so they
    /// end up sharing one instance instead of each loading (and later storing) its own.
    private struct PendingLoad {
        var task: Load
        var joiners: Int
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var pending: [String: PendingLoad] = [:]
        var clock: UInt64 = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { state.withLock { $0.entries.count } }

    /// The session if held, marking it used; `retain` also counts one more request using it.
    func session(_ random: String, retain: Bool) -> Session? {
        state.withLock { state in
            guard var entry = state.entries[random] else { return nil }
            state.clock &+= 1
            entry.lastUse = state.clock
            if retain { entry.users += 1 }
            state.entries[random] = entry
            return entry.session
        }
    }

    /// Joins the load of `random` in progress, or starts one with `load`; the loaded session is
    /// held with every joiner counted as a user (when `retain`).
    func loadShared(
        _ random: String,
        retain: Bool,
        load: @escaping @Sendable () async -> LoadResult
    ) async -> LoadResult {
        let task = state.withLock { state -> Load? in
            if var entry = state.entries[random], retain {
                // Loaded (or created) since the caller looked: share it instead of loading again.
                entry.users += 1
                state.entries[random] = entry
                return nil
            }
            if var pending = state.pending[random] {
                pending.joiners += 1
                state.pending[random] = pending
                return pending.task
            }
            let task = Load {
                let result = await load()
                self.completeLoad(random, result: result, retain: retain)
                return result
            }
            state.pending[random] = PendingLoad(task: task, joiners: 1)
            return task
        }
        guard let task else { return .success(state.withLock { $0.entries[random]?.session }) }
        return await task.value
    }

    private func completeLoad(_ random: String, result: LoadResult, retain: Bool) {
        state.withLock { state in
            let joiners = state.pending.removeValue(forKey: random)?.joiners ?? 1
            guard case .success(let session?) = result else { return }
            guard state.entries[random] == nil || !retain else { return }  // never replace a shared entry
            state.clock &+= 1
            state.entries[random] = Entry(session: session, lastUse: state.clock, users: retain ? joiners : 0)
            if state.entries.count > capacity { Self.evictLeastRecentlyUsed(&state, keeping: capacity) }
        }
    }

    /// Holds `session`, replacing whatever was held under its random part.
    func insert(_ session: Session, random: String, retain: Bool) {
        state.withLock { state in
            state.clock &+= 1
            let users = (state.entries[random]?.users ?? 0) + (retain ? 1 : 0)
            state.entries[random] = Entry(session: session, lastUse: state.clock, users: users)
            if state.entries.count > capacity { Self.evictLeastRecentlyUsed(&state, keeping: capacity) }
        }
    }

    /// One request stopped using the session; `true` when it was the last user. `dropWhenUnused`
    /// (non-sticky) then removes it.
    @discardableResult
    func release(_ random: String, dropWhenUnused: Bool) -> Bool {
        state.withLock { state in
            guard var entry = state.entries[random] else { return true }
            entry.users = max(0, entry.users - 1)
            guard entry.users == 0 else {
                state.entries[random] = entry
                return false
            }
            state.entries[random] = dropWhenUnused ? nil : entry
            return true
        }
    }

    /// Changes a session's id and moves its entry (users included) in one step, so no
    /// request sharing it can look it up, or release it, between the two.
    func changeID(of session: Session, from old: String, _ change: (inout Session.State) -> Void) {
        state.withLock { state in
            session.withState(change)
            guard let entry = state.entries.removeValue(forKey: old) else { return }
            state.entries[session.id.random] = entry
        }
    }

    func remove(_ random: String) {
        _ = state.withLock { $0.entries.removeValue(forKey: random) }
    }

    /// Drops about a tenth beyond capacity at once, so eviction cost is amortized over many inserts.
    private static func evictLeastRecentlyUsed(_ state: inout State, keeping capacity: Int) {
        let target = max(0, capacity - capacity / 10)
        let idle = state.entries.filter { $0.value.users == 0 }.sorted { $0.value.lastUse < $1.value.lastUse }
        for (random, _) in idle.prefix(state.entries.count - target) {
            state.entries[random] = nil
        }
    }
}
