import Testing

@testable import MemcachedClient

@Suite struct MemcachedKeyTests {
    @Test(arguments: ["a", "602F7397FBE4D9932E59A9D0E52FE178-m2.A", "lock:abc", "bak:validity:x", "ключ", String(repeating: "k", count: 250)])
    func acceptsPrintableKeys(key: String) throws {
        #expect(try MemcachedKey(key).rawValue == key)
    }

    @Test(arguments: [
        "", "has space", "cr\rlf", "line\nfeed", "injected\r\nflush_all", "tab\there", "nul\u{0}", "del\u{7F}",
        String(repeating: "k", count: 251), String(repeating: "é", count: 126),
    ])
    func rejectsUnsafeKeys(key: String) {
        let error = #expect(throws: MemcachedError.self) { try MemcachedKey(key) }
        #expect(error?.code == .invalidKey)
    }

    @Test func errorSaysWhatIsWrong() {
        let error = #expect(throws: MemcachedError.self) { try MemcachedKey("a\r\nb") }
        #expect(error?.message.contains("carriage return") == true)
        #expect(error?.message.contains("byte 1") == true)
    }
}
