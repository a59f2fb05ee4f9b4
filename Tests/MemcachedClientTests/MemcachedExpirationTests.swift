import Testing

@testable import MemcachedClient

@Suite struct MemcachedExpirationTests {
    @Test func neverIsZero() {
        #expect(MemcachedExpiration.never.protocolValue(now: { 5 }) == 0)
    }

    @Test func nonPositiveSecondsExpireAtOnceInsteadOfMeaningNever() {
        #expect(MemcachedExpiration.seconds(0).protocolValue(now: { 5 }) == -1)
        #expect(MemcachedExpiration.seconds(-30).protocolValue(now: { 5 }) == -1)
    }

    @Test func durationsRoundUpToWholeSeconds() {
        #expect(MemcachedExpiration.after(.milliseconds(1)).seconds == 1)
        #expect(MemcachedExpiration.after(.milliseconds(1500)).seconds == 2)
        #expect(MemcachedExpiration.after(.seconds(3)).seconds == 3)
    }

    @Test func longExpirationsBecomeAbsolute() {
        let days31 = 31 * 24 * 3600
        #expect(MemcachedExpiration.seconds(days31).protocolValue(now: { 1_000_000 }) == 1_000_000 + days31)
    }
}
