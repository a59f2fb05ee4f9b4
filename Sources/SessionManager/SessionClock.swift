#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Where session expiry reads the time: wall-clock milliseconds since the Unix epoch, because
/// session timestamps travel between app servers. Tests give the manager and the memory store a
/// clock they advance (`ManualSessionClock` in `SessionManagerTesting`) instead of waiting.
public protocol SessionClock: Sendable {
    /// Milliseconds since the Unix epoch.
    func nowMilliseconds() -> Int64
}

/// The system's wall clock.
public struct SystemSessionClock: SessionClock {
    /// The system clock.
    public init() {}

    public func nowMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
