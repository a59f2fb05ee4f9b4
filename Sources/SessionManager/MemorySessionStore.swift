import Synchronization

/// A session store node in this process's memory.
///
/// For unit tests of handlers and for single-server development: it gives the manager the
/// same semantics as memcached or Redis (expiry, add-if-absent, owner-checked delete), so code
/// tested against it behaves the same on a real store, but nothing survives the process and
/// nothing is shared with other processes. `SessionManagerTesting` wraps it with injected faults
/// (a node down, hung, restarted empty) for failover tests without servers.
///
/// ```swift
/// let manager = try SessionManager(
///     configuration: SessionManagerConfiguration(),
///     store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"])
/// )
/// ```
public final class MemorySessionStore: SessionStoreNode {
    private struct Item {
        var value: [UInt8]
        /// Wall-clock milliseconds; `nil`: never.
        var expires: Int64?
    }

    private let items = Mutex<[String: Item]>([:])
    /// Values larger than this are refused as too large, like memcached's item size limit.
    public let maximumValueSize: Int
    /// Where expirations are read.
    public let clock: any SessionClock

    /// An empty node.
    /// - Parameters:
    ///   - maximumValueSize: the largest value accepted; default 1 MiB, memcached's default.
    ///   - clock: where expirations are read; give the session manager the same one.
    public init(maximumValueSize: Int = 1 << 20, clock: any SessionClock = SystemSessionClock()) {
        self.maximumValueSize = maximumValueSize
        self.clock = clock
    }

    /// A topology of empty memory nodes: one without id when `nodeIDs` is empty, else one per id,
    /// those in `failoverNodeIDs` marked as failover nodes.
    public static func topology(
        nodeIDs: [String] = [], failoverNodeIDs: Set<String> = [], clock: any SessionClock = SystemSessionClock()
    ) -> SessionStoreTopology {
        guard !nodeIDs.isEmpty else {
            return SessionStoreTopology(nodes: [.init(id: nil, isFailover: false, store: MemorySessionStore(clock: clock))])
        }
        return SessionStoreTopology(
            nodes: nodeIDs.map { id in
                .init(id: id, isFailover: failoverNodeIDs.contains(id), store: MemorySessionStore(clock: clock))
            })
    }

    /// The number of live (unexpired) items.
    public var count: Int {
        let now = clock.nowMilliseconds()
        return items.withLock { items in items.values.count { !Self.isExpired($0, at: now) } }
    }

    /// Forgets everything, as a restarted memcached would.
    public func removeAll() {
        items.withLock { $0.removeAll() }
    }

    public func get(_ key: String) async throws(SessionStoreError) -> [UInt8]? {
        let now = clock.nowMilliseconds()
        return items.withLock { items in
            guard let item = items[key] else { return nil }
            guard !Self.isExpired(item, at: now) else {
                items[key] = nil
                return nil
            }
            return item.value
        }
    }

    public func set(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) {
        let item = try makeItem(value, expirationSeconds: expirationSeconds)
        items.withLock { $0[key] = item }
    }

    public func add(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) -> Bool {
        let item = try makeItem(value, expirationSeconds: expirationSeconds)
        let now = clock.nowMilliseconds()
        return items.withLock { items in
            if let existing = items[key], !Self.isExpired(existing, at: now) { return false }
            items[key] = item
            return true
        }
    }

    @discardableResult
    public func delete(_ key: String) async throws(SessionStoreError) -> Bool {
        let now = clock.nowMilliseconds()
        return items.withLock { items in
            guard let removed = items.removeValue(forKey: key) else { return false }
            return !Self.isExpired(removed, at: now)
        }
    }

    public func delete(_ key: String, ifValueIs value: [UInt8]) async throws(SessionStoreError) -> Bool {
        let now = clock.nowMilliseconds()
        return items.withLock { items in
            guard let item = items[key], !Self.isExpired(item, at: now), item.value == value else { return false }
            items[key] = nil
            return true
        }
    }

    public func ping() async throws(SessionStoreError) {}

    private func makeItem(_ value: [UInt8], expirationSeconds: Int) throws(SessionStoreError) -> Item {
        guard value.count <= maximumValueSize else {
            throw SessionStoreError(.valueTooLarge, "value of \(value.count) bytes is over the memory store's limit of \(maximumValueSize)")
        }
        let expires = expirationSeconds > 0 ? clock.nowMilliseconds() + Int64(expirationSeconds) * 1000 : nil
        return Item(value: value, expires: expires)
    }

    private static func isExpired(_ item: Item, at now: Int64) -> Bool {
        item.expires.map { $0 <= now } ?? false
    }
}
