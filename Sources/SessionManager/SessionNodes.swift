import Logging
import Synchronization

/// The store's nodes with msm's placement rules and a short-lived availability cache.
///
/// A node is trusted up until an operation on it fails; a node marked down is not asked again
/// until `availabilityTTL` has passed, then one probe decides (msm's NodeAvailabilityCache).
final class SessionNodes: Sendable {
    struct Node: Sendable {
        var id: String?
        var isFailover: Bool
        var store: any SessionStoreNode
    }

    private struct Status {
        var isUp = true
        var checkedAt: ContinuousClock.Instant
    }

    let nodes: [Node]
    private let indexByID: [String: Int]
    private let status: Mutex<[Status]>
    private let nextPlacement = Atomic<Int>(0)
    private let availabilityTTL: Duration
    private let logger: Logger

    init(topology: SessionStoreTopology, availabilityTTL: Duration, logger: Logger) {
        nodes = topology.nodes.map { Node(id: $0.id, isFailover: $0.isFailover, store: $0.store) }
        var indexByID: [String: Int] = [:]
        for (index, node) in nodes.enumerated() { indexByID[node.id ?? ""] = index }
        self.indexByID = indexByID
        let now = ContinuousClock.now
        status = Mutex(Array(repeating: Status(checkedAt: now), count: nodes.count))
        self.availabilityTTL = availabilityTTL
        self.logger = logger
    }

    /// Whether ids carry a node part (every multi-node list; a single node may go without).
    var usesNodeIDs: Bool { nodes.first?.id != nil }

    func index(of id: String?) -> Int? { indexByID[id ?? ""] }

    func id(of index: Int) -> String? { nodes[index].id }

    func store(_ index: Int) -> any SessionStoreNode { nodes[index].store }

    // MARK: Availability

    /// Up, or down but due for a probe that finds it up.
    func isAvailable(_ index: Int) async -> Bool {
        enum Decision { case up, down, probe }
        let now = ContinuousClock.now
        let decision = status.withLock { status -> Decision in
            if status[index].isUp { return .up }
            guard now - status[index].checkedAt >= availabilityTTL else { return .down }
            status[index].checkedAt = now  // one prober at a time; others keep seeing "down"
            return .probe
        }
        switch decision {
        case .up: return true
        case .down: return false
        case .probe:
            do {
                try await nodes[index].store.ping()
                markUp(index)
                return true
            } catch {
                return false
            }
        }
    }

    func markDown(_ index: Int, because error: SessionStoreError) {
        let wasUp = status.withLock { status -> Bool in
            defer { status[index] = Status(isUp: false, checkedAt: .now) }
            return status[index].isUp
        }
        if wasUp {
            logger.warning("session store node marked down", metadata: ["node": "\(nodes[index].id ?? "(single)")", "error": "\(error.message)"])
        }
    }

    func markUp(_ index: Int) {
        let wasDown = status.withLock { status -> Bool in
            defer { status[index] = Status(isUp: true, checkedAt: .now) }
            return !status[index].isUp
        }
        if wasDown {
            logger.info("session store node is back", metadata: ["node": "\(nodes[index].id ?? "(single)")"])
        }
    }

    // MARK: Placement

    /// Where a new (or relocated) session goes: an available regular node, round-robin; only if
    /// none is up, an available failover node. `nil` when every node is down.
    func nodeForNewSession(excluding excluded: Int? = nil) async -> Int? {
        let start = nextPlacement.wrappingAdd(1, ordering: .relaxed).oldValue
        for wantFailover in [false, true] {
            for offset in 0..<nodes.count {
                let index = (start + offset) % nodes.count
                guard index != excluded, nodes[index].isFailover == wantFailover else { continue }
                if await isAvailable(index) { return index }
            }
        }
        return nil
    }

    /// The node holding the backup copy of a session whose primary is `primary`: the next
    /// available node after it in list order.
    func backupNode(for primary: Int) async -> Int? {
        for offset in 1..<max(nodes.count, 1) {
            let index = (primary + offset) % nodes.count
            if await isAvailable(index) { return index }
        }
        return nil
    }

    /// Nodes other than `primary` in ring order: where to look for a backup copy.
    func others(than primary: Int) -> [Int] {
        (1..<max(nodes.count, 1)).map { (primary + $0) % nodes.count }
    }

    /// True when a session on `index` should move: it sits on a failover node while a regular node is up.
    func shouldLeaveFailoverNode(_ index: Int) async -> Bool {
        guard nodes[index].isFailover else { return false }
        for (candidate, node) in nodes.enumerated() where !node.isFailover {
            if await isAvailable(candidate) { return true }
        }
        return false
    }
}
