import SessionManager
import Synchronization

/// A wall clock that moves only when a test says so: expiry tests advance it instead of waiting.
///
/// Give the same clock to the `SessionManager` (``SessionManagerConfiguration/clock``) and to
/// the `MemorySessionStore` nodes, so sessions and their store copies age together:
///
/// ```swift
/// let clock = ManualSessionClock()
/// var configuration = SessionManagerConfiguration()
/// configuration.clock = clock
/// configuration.maxInactiveInterval = 60
/// let manager = try SessionManager(configuration: configuration, store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"], clock: clock))
/// clock.advance(by: .seconds(61))     // every session is now expired
/// ```
public final class ManualSessionClock: SessionClock {
    private let milliseconds: Mutex<Int64>

    /// A clock at `start` (default: the system's time now).
    public init(startingAt start: Int64 = SystemSessionClock().nowMilliseconds()) {
        milliseconds = Mutex(start)
    }

    public func nowMilliseconds() -> Int64 {
        milliseconds.withLock { $0 }
    }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        let (seconds, attoseconds) = duration.components
        milliseconds.withLock { $0 += seconds * 1000 + attoseconds / 1_000_000_000_000_000 }
    }
}
