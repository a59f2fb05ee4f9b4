import SessionManager
import Synchronization

/// A store node that fails on command: wraps another node (usually a `MemorySessionStore`) and
/// makes it behave like a memcached or Redis server that was killed, froze, or restarted empty.
///
/// Failover, backup, migration and timeout behaviour can so be tested in milliseconds, without
/// servers:
///
/// ```swift
/// let m1 = FaultInjectingSessionStore(MemorySessionStore())
/// let m2 = FaultInjectingSessionStore(MemorySessionStore())
/// let manager = try SessionManager(configuration: configuration, store: SessionStoreTopology(nodes: [
///     .init(id: "m1", isFailover: true, store: m1),
///     .init(id: "m2", isFailover: false, store: m2),
/// ]))
/// m2.fault = .down            // every operation fails at once, as on a refused connection
/// m2.fault = .hung            // operations wait `timeout`, then fail, as on a frozen server
/// m2.fault = nil              // back
/// ```
public final class FaultInjectingSessionStore: SessionStoreNode {
    /// What goes wrong.
    public enum Fault: Sendable, Hashable {
        /// Every operation fails at once with `SessionStoreError.Kind.nodeUnavailable`.
        case down
        /// Every operation waits ``FaultInjectingSessionStore/timeout`` (unless the fault is
        /// lifted sooner), then fails with `SessionStoreError.Kind.nodeUnavailable`: a client's
        /// operation timeout against a frozen server.
        case hung
    }

    /// Operations by kind, for checks like "a static request did no store work".
    public struct Counts: Sendable, Hashable {
        /// Reads.
        public var gets = 0
        /// Writes: `set`.
        public var sets = 0
        /// Writes only if absent: `add` (how locks are taken).
        public var adds = 0
        /// Deletes, plain and owner-checked.
        public var deletes = 0
        /// Availability probes.
        public var pings = 0

        /// Counts, zero unless given.
        public init(gets: Int = 0, sets: Int = 0, adds: Int = 0, deletes: Int = 0, pings: Int = 0) {
            self.gets = gets
            self.sets = sets
            self.adds = adds
            self.deletes = deletes
            self.pings = pings
        }
    }

    private struct State {
        var fault: Fault?
        var counts = Counts()
    }

    /// The node operations reach when no fault is set.
    public let base: any SessionStoreNode
    /// How long a ``Fault/hung`` operation waits before failing.
    public let timeout: Duration
    private let state = Mutex(State())

    /// Wraps `base`.
    /// - Parameters:
    ///   - base: the node operations reach when no fault is set.
    ///   - timeout: how long a hung operation waits; default 500 ms.
    public init(_ base: any SessionStoreNode, timeout: Duration = .milliseconds(500)) {
        self.base = base
        self.timeout = timeout
    }

    /// The fault in force; `nil`: none.
    public var fault: Fault? {
        get { state.withLock { $0.fault } }
        set { state.withLock { $0.fault = newValue } }
    }

    /// Operations that reached the node (a failed one counts too: it was attempted).
    public var counts: Counts { state.withLock { $0.counts } }

    public func get(_ key: String) async throws(SessionStoreError) -> [UInt8]? {
        try await inject { $0.gets += 1 }
        return try await base.get(key)
    }

    public func set(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) {
        try await inject { $0.sets += 1 }
        try await base.set(key, value: value, expirationSeconds: expirationSeconds)
    }

    public func add(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) -> Bool {
        try await inject { $0.adds += 1 }
        return try await base.add(key, value: value, expirationSeconds: expirationSeconds)
    }

    @discardableResult
    public func delete(_ key: String) async throws(SessionStoreError) -> Bool {
        try await inject { $0.deletes += 1 }
        return try await base.delete(key)
    }

    public func delete(_ key: String, ifValueIs value: [UInt8]) async throws(SessionStoreError) -> Bool {
        try await inject { $0.deletes += 1 }
        return try await base.delete(key, ifValueIs: value)
    }

    public func ping() async throws(SessionStoreError) {
        try await inject { $0.pings += 1 }
        try await base.ping()
    }

    private func inject(_ count: (inout Counts) -> Void) async throws(SessionStoreError) {
        let fault = state.withLock { state in
            count(&state.counts)
            return state.fault
        }
        switch fault {
        case nil:
            return
        case .down:
            throw SessionStoreError(.nodeUnavailable, "injected fault: the node is down")
        case .hung:
            // Polls, so lifting the fault (a thawed server) answers the waiting operation.
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline, self.fault == .hung {
                try? await Task.sleep(for: .milliseconds(5))
            }
            switch self.fault {
            case nil: return
            case .down: throw SessionStoreError(.nodeUnavailable, "injected fault: the node went down")
            case .hung: throw SessionStoreError(.nodeUnavailable, "injected fault: no reply within \(timeout)")
            }
        }
    }
}
