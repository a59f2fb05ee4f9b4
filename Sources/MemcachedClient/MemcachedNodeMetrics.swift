import Metrics

/// The counters one node reports through swift-metrics, made once so requests only increment.
struct MemcachedNodeMetrics: Sendable {
    let requests: Counter
    let connects: Counter
    let connectFailures: Counter
    private let nodeDimension: String

    init(node: MemcachedNode) {
        nodeDimension = node.id ?? "\(node.host):\(node.port)"
        let dimensions = [("node", nodeDimension)]
        requests = Counter(label: "memcached_requests_total", dimensions: dimensions)
        connects = Counter(label: "memcached_connects_total", dimensions: dimensions)
        connectFailures = Counter(label: "memcached_connect_failures_total", dimensions: dimensions)
    }

    /// Failures are rare, so their counter is looked up per failure, by kind.
    func recordFailure(_ error: MemcachedError) {
        Counter(label: "memcached_errors_total", dimensions: [("node", nodeDimension), ("code", error.code.description)]).increment()
    }
}
