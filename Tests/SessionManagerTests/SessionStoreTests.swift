import Synchronization
import Testing

@testable import SessionManager

/// The store seam's shared helper: a request reset by another one gets exactly one more try.
@Suite struct SessionStoreTests {
    struct Failure: Error, Equatable { var retryable: Bool }

    final class Attempts: Sendable {
        private let value = Mutex(0)
        var count: Int { value.withLock { $0 } }
        func record() -> Int {
            value.withLock {
                $0 += 1
                return $0
            }
        }
    }

    @Test func aRetryableFailureIsTriedOnceMore() async throws {
        let attempts = Attempts()
        let value = try await retryingOnce(when: { (failure: Failure) in failure.retryable }) { () throws(Failure) -> Int in
            if attempts.record() == 1 { throw Failure(retryable: true) }
            return 42
        }
        #expect(value == 42)
        #expect(attempts.count == 2)
    }

    @Test func onlyOnceAndOnlyForRetryableFailures() async {
        let twice = Attempts()
        await #expect(throws: Failure(retryable: true)) {
            try await retryingOnce(when: { (failure: Failure) in failure.retryable }) { () throws(Failure) -> Int in
                _ = twice.record()
                throw Failure(retryable: true)
            }
        }
        #expect(twice.count == 2)

        let once = Attempts()
        await #expect(throws: Failure(retryable: false)) {
            try await retryingOnce(when: { (failure: Failure) in failure.retryable }) { () throws(Failure) -> Int in
                _ = once.record()
                throw Failure(retryable: false)
            }
        }
        #expect(once.count == 1)
    }
}

/// Durations reach swift-metrics as `Int64` nanoseconds: out-of-range ones saturate, never wrap.
@Suite struct DurationClampingTests {
    @Test func durationsSaturateInsteadOfWrapping() {
        #expect(Duration.milliseconds(1_500).nanosecondsClamped == 1_500_000_000)
        #expect(Duration.seconds(Int64.max).nanosecondsClamped == .max)
        #expect(Duration.seconds(Int64.min).nanosecondsClamped == .min)
        // Whole seconds fit, the added fraction does not.
        #expect((Duration.seconds(9_223_372_036) + .nanoseconds(999_999_999)).nanosecondsClamped == .max)
    }
}
