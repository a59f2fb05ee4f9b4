import NIOCore
import Testing

@testable import MemcachedClient

@Suite struct MemcachedRequestEncoderTests {
    private func encoded(_ command: MemcachedRequest.Command, opaque: UInt32 = 7, now: Int = 1_700_000_000) -> String {
        var buffer = ByteBuffer()
        MemcachedRequestEncoder.encode(MemcachedRequest(command: command), opaque: opaque, into: &buffer, now: { now })
        return String(buffer: buffer)
    }

    private let key = try! MemcachedKey("session-1")

    @Test func get() {
        #expect(encoded(.get(key, touch: nil)) == "mg session-1 v c f t O7\r\n")
        #expect(encoded(.get(key, touch: .seconds(60))) == "mg session-1 v c f t T60 O7\r\n")
    }

    @Test func touch() {
        #expect(encoded(.touch(key, .seconds(1800))) == "mg session-1 T1800 O7\r\n")
    }

    @Test func store() {
        let value = ByteBuffer(string: "a\r\nb")
        #expect(encoded(.store(key, value: value, mode: .set, expiration: .never, flags: 0, cas: nil)) == "ms session-1 4 T0 c O7\r\na\r\nb\r\n")
        #expect(
            encoded(.store(key, value: value, mode: .add, expiration: .seconds(5), flags: 42, cas: 99))
                == "ms session-1 4 T5 F42 ME C99 c O7\r\na\r\nb\r\n"
        )
        #expect(
            encoded(.store(key, value: ByteBuffer(), mode: .replace, expiration: .never, flags: 0, cas: nil)) == "ms session-1 0 T0 MR c O7\r\n\r\n")
    }

    @Test func storeKeepsTheCallersValueIntact() {
        let value = ByteBuffer(string: "payload")
        var buffer = ByteBuffer()
        MemcachedRequestEncoder.encode(
            MemcachedRequest(command: .store(key, value: value, mode: .set, expiration: .never, flags: 0, cas: nil)),
            opaque: 1, into: &buffer
        )
        #expect(value.readableBytes == 7)
    }

    @Test func delete() {
        #expect(encoded(.delete(key, cas: nil)) == "md session-1 O7\r\n")
        #expect(encoded(.delete(key, cas: 5)) == "md session-1 C5 O7\r\n")
    }

    @Test func arithmetic() {
        #expect(encoded(.arithmetic(key, increment: true, delta: 1, initial: nil)) == "ma session-1 MI D1 v O7\r\n")
        #expect(encoded(.arithmetic(key, increment: false, delta: 3, initial: (10, .seconds(9)))) == "ma session-1 MD D3 N9 J10 v O7\r\n")
    }

    @Test func noopAndVersionCarryNoOpaque() {
        #expect(encoded(.noop) == "mn\r\n")
        #expect(encoded(.version) == "version\r\n")
        #expect(MemcachedRequest(command: .noop).usesOpaque == false)
        #expect(MemcachedRequest(command: .get(key, touch: nil)).usesOpaque)
    }

    @Test func expirationsBeyondThirtyDaysBecomeAbsoluteTimes() {
        let thirtyDays = 60 * 60 * 24 * 30
        #expect(encoded(.touch(key, .seconds(thirtyDays)), now: 1000) == "mg session-1 T\(thirtyDays) O7\r\n")
        #expect(encoded(.touch(key, .seconds(thirtyDays + 1)), now: 1000) == "mg session-1 T\(thirtyDays + 1001) O7\r\n")
    }
}
