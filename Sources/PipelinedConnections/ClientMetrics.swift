import Logging
import Metrics
import NIOCore

/// The counters one server's client reports through swift-metrics (`<protocol>_requests_total`,
/// `_connects_total`, `_connect_failures_total`, `_errors_total{code}`, each with dimension
/// `server`, `host:port`), made once so requests only increment.
package struct ClientMetrics: Sendable {
    package let requests: Counter
    package let connects: Counter
    package let connectFailures: Counter
    private let prefix: String
    private let server: String
    /// The client module, as log lines' source.
    private let source: String

    /// - Parameters:
    ///   - prefix: the protocol: `memcached`, `redis`.
    ///   - server: `host:port`.
    ///   - source: the client module, for log lines (`#fileID`'s module by default).
    package init(prefix: String, server: String, source: String = #fileID) {
        self.prefix = prefix
        self.server = server
        self.source = String(source.prefix { $0 != "/" })
        let dimensions = [("server", server)]
        requests = Counter(label: "\(prefix)_requests_total", dimensions: dimensions)
        connects = Counter(label: "\(prefix)_connects_total", dimensions: dimensions)
        connectFailures = Counter(label: "\(prefix)_connect_failures_total", dimensions: dimensions)
    }

    /// Failures are rare, so their counter is looked up per failure, by kind.
    package func recordFailure(code: String) {
        Counter(label: "\(prefix)_errors_total", dimensions: [("server", server), ("code", code)]).increment()
    }
}

extension ClientMetrics {
    /// Counts a connect attempt and logs what a reader needs: a server unreachable (with the
    /// retry delay) or reachable again.
    package func record<Connection, Failure>(_ event: ConnectionSlot<Connection, Failure>.Event, logger: Logger) {
        switch event {
        case .connected(let afterFailures):
            connects.increment()
            if afterFailures > 0 {
                logger.info(
                    "\(prefix) server reachable again",
                    metadata: ["\(prefix).server": "\(server)", "\(prefix).failed_attempts": "\(afterFailures)"], source: source)
            }
        case .connectFailed(let error, let retryIn):
            connectFailures.increment()
            logger.warning(
                "\(prefix) server unreachable",
                metadata: [
                    "\(prefix).server": "\(server)", "error": "\(error.message)", "\(prefix).retry_in_ms": "\(retryIn.wholeMilliseconds)",
                ], source: source)
        }
    }
}

extension ConnectionSlots {
    /// A client's `count` connections to one server, on the group's loops, sharing one backoff;
    /// every connect attempt counted and logged through `metrics`.
    package convenience init(
        count: Int,
        server: String,
        eventLoopGroup: any EventLoopGroup,
        backoff: ReconnectBackoff,
        metrics: ClientMetrics,
        logger: Logger,
        connect: @escaping @Sendable (any EventLoop) async throws(Failure) -> Connection
    ) {
        self.init(
            (0..<count).map { _ in
                ConnectionSlot(
                    nodeDescription: server, eventLoop: eventLoopGroup.next(), backoff: backoff, connect: connect,
                    onEvent: { event in metrics.record(event, logger: logger) }
                )
            })
    }
}
