import SessionManager
import Synchronization

/// A wall clock that moves only when a test says so: expiry tests advance it instead of waiting.
///
/// Give the same clock to the `SessionManager` (`SessionManagerConfiguration.clock`) and to
/// the `MemorySessionStore` nodes, so sessions and their store copies age together:
///
/// ```swift
/// let clock = ManualSessionClock()
/// var configuration = SessionManagerConfiguration()
/// configuration.clock = clock
/// configuration.maxInactiveInterval = .seconds(60)
/// let manager = try SessionManager(configuration: configuration, store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"], clock: clock))
/// clock.advance(by: .seconds(61))     // every session is now expired
/// ```
public final class ManualSessionClock: SessionClock {
    private let start: Int64
    /// Kept whole, so many small steps add up (a millisecond count would drop each fraction).
    private let elapsed = Mutex(Duration.zero)

    /// A clock at `start` milliseconds since the Unix epoch (default: the system's time now).
    public init(startingAt start: Int64 = SystemSessionClock().nowMilliseconds()) {
        self.start = start
    }

    public func nowMilliseconds() -> Int64 {
        let (seconds, attoseconds) = elapsed.withLock { $0 }.components
        return start + seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        elapsed.withLock { $0 += duration }
    }
}
