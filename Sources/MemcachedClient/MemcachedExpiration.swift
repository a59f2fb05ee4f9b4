#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// When a stored item expires.
///
/// memcached reads an expiration above 30 days as an absolute Unix time rather than a relative
/// one (msm #147, #228); this type hides that rule so callers always speak in durations.
public struct MemcachedExpiration: Sendable, Hashable, CustomStringConvertible {
    /// memcached's boundary between relative seconds and absolute Unix time.
    static let relativeLimitSeconds = 60 * 60 * 24 * 30

    /// Seconds from now; 0 means never, negative means already expired.
    public let seconds: Int

    /// The item never expires (it may still be evicted under memory pressure).
    public static let never = MemcachedExpiration(uncheckedSeconds: 0)

    /// The item expires `seconds` from now; 0 or less makes it expire at once.
    public static func seconds(_ seconds: Int) -> MemcachedExpiration {
        MemcachedExpiration(uncheckedSeconds: seconds > 0 ? seconds : -1)
    }

    /// The item expires after `duration`, rounded up to whole seconds (memcached's resolution).
    public static func after(_ duration: Duration) -> MemcachedExpiration {
        let (wholeSeconds, attoseconds) = duration.components
        return .seconds(Int(wholeSeconds) + (attoseconds > 0 ? 1 : 0))
    }

    private init(uncheckedSeconds: Int) { self.seconds = uncheckedSeconds }

    /// The number memcached expects on the wire; `now` (Unix seconds) is read only past 30 days.
    func protocolValue(now: () -> Int) -> Int {
        seconds > Self.relativeLimitSeconds ? now() + seconds : seconds
    }

    /// The wall clock in Unix seconds, for absolute expirations.
    static func currentUnixTime() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int(now.tv_sec)
    }

    public var description: String {
        switch seconds {
        case 0: return "never"
        case ..<0: return "expired"
        default: return "\(seconds)s"
        }
    }
}
