import Foundation
import Testing

/// Issue 9 as a user met it: `msm demo --non-sticky` with a locking mode, one browser's session,
/// and many clients sending `GET /myapp/` with its cookie at once through nginx, so both app
/// servers increment the same session concurrently. Locking promises that no increment is lost.
@Suite(.serialized) struct LockingEndToEndTests {
    static let cases: [(DemoStore, String)] = [
        (.memcached, "all"), (.redis, "all"), (.memcached, "uriPattern:GET /myapp/.*"),
    ]

    @Test(arguments: cases)
    func concurrentClientsThroughNginxLoseNoIncrement(store: DemoStore, lockingMode: String) async throws {
        try await DemoClusterProcess.with(store: store, arguments: ["--non-sticky", "--locking-mode", lockingMode]) { try await hammer($0) }
    }

    private func hammer(_ demo: DemoClusterProcess) async throws {
        let first = try HTTPTestClient.request(port: demo.nginxPort, path: "/myapp/")
        let cookie = try #require(first.setCookie("SESSIONID"))
        var expected = try #require(first.json["visits"] as? Int)
        let clients = 8
        let requestsPerClient = 15
        for round in 1...2 {
            let replies = await onThreads(clients) { _ in
                (0..<requestsPerClient).map { _ in
                    (try? HTTPTestClient.request(port: demo.nginxPort, path: "/myapp/", cookie: "SESSIONID=\(cookie)"))
                }
            }.flatMap { $0 }
            let statuses = replies.map { $0?.status ?? -1 }
            #expect(statuses.allSatisfy { $0 == 200 }, "round \(round): statuses \(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
            let servedBy = Set(replies.compactMap { $0?.json["servedBy"] as? String })
            #expect(servedBy == ["A", "B"], "both app servers took part")
            expected += statuses.filter { $0 == 200 }.count
            let check = try HTTPTestClient.request(port: demo.nginxPort, path: "/myapp/", cookie: "SESSIONID=\(cookie)")
            expected += 1
            let visits = try #require(check.json["visits"] as? Int)
            #expect(visits == expected, "round \(round): \(expected - visits) increments lost of \(clients * requestsPerClient)")
        }
    }

    /// Runs `body` on `count` real threads at once (the blocking test client must not tie up the
    /// two threads of Swift's cooperative pool) and returns their results.
    private func onThreads<T: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) -> T) async -> [T] {
        await withCheckedContinuation { continuation in
            let results = ResultSlots<T>(count: count) { continuation.resume(returning: $0) }
            for index in 0..<count {
                Thread { results.fill(index, body(index)) }.start()
            }
        }
    }
}

/// One result per thread; hands the whole array over when the last one arrives.
private final class ResultSlots<T: Sendable>: @unchecked Sendable {
    // @unchecked: every field is read and written only under `lock`.
    private let lock = NSLock()
    private var slots: [T?]
    private var remaining: Int
    private let done: ([T]) -> Void

    init(count: Int, done: @escaping ([T]) -> Void) {
        slots = Array(repeating: nil, count: count)
        remaining = count
        self.done = done
    }

    func fill(_ index: Int, _ value: T) {
        lock.lock()
        slots[index] = value
        remaining -= 1
        let finished = remaining == 0 ? slots.compactMap { $0 } : nil
        lock.unlock()
        if let finished { done(finished) }
    }
}
