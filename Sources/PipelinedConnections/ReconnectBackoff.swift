/// Exponential reconnect delays: `initial`, doubled after each further failure, capped at `maximum`.
package struct ReconnectBackoff: Sendable, Hashable {
    package var initial: Duration
    package var maximum: Duration

    package init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The wait before the next attempt, after `failures` (at least 1) consecutive failed ones.
    package func delay(afterFailures failures: Int) -> Duration {
        let doublings = min(max(failures - 1, 0), 30)
        return min(initial * (1 << doublings), maximum)
    }
}
