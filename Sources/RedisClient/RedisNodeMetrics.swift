import Metrics

/// The counters one node reports through swift-metrics, made once so commands only increment.
struct RedisNodeMetrics: Sendable {
    let requests: Counter
    let connects: Counter
    let connectFailures: Counter
    private let nodeDimension: String

    init(node: RedisNode) {
        nodeDimension = node.id ?? node.endpoint
        let dimensions = [("node", nodeDimension)]
        requests = Counter(label: "redis_requests_total", dimensions: dimensions)
        connects = Counter(label: "redis_connects_total", dimensions: dimensions)
        connectFailures = Counter(label: "redis_connect_failures_total", dimensions: dimensions)
    }

    /// Failures are rare, so their counter is looked up per failure, by kind.
    func recordFailure(_ error: RedisError) {
        Counter(label: "redis_errors_total", dimensions: [("node", nodeDimension), ("code", error.code.description)]).increment()
    }
}
