import Logging
import ServiceLifecycle
import SessionManagerTestSupport
import Synchronization
import Testing

@testable import SessionManager

/// The manager owns its store: run as a service, it closes the store after its last write;
/// not run, the first request says so in the log.
@Suite struct SessionManagerServiceTests {
    /// A memory node whose writes take 200 ms: an asynchronous write is still running when
    /// shutdown begins.
    struct SlowNode: SessionStoreNode {
        let node = MemorySessionStore()
        func get(_ key: String) async throws(SessionStoreError) -> [UInt8]? { try await node.get(key) }
        func set(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) {
            try? await Task.sleep(for: .milliseconds(200))
            try await node.set(key, value: value, expirationSeconds: expirationSeconds)
        }
        func add(_ key: String, value: [UInt8], expirationSeconds: Int) async throws(SessionStoreError) -> Bool {
            try await node.add(key, value: value, expirationSeconds: expirationSeconds)
        }
        func delete(_ key: String) async throws(SessionStoreError) -> Bool { try await node.delete(key) }
        func delete(_ key: String, ifValueIs value: [UInt8]) async throws(SessionStoreError) -> Bool {
            try await node.delete(key, ifValueIs: value)
        }
        func ping() async throws(SessionStoreError) {}
    }

    /// A store over slow memory nodes that records, when it is shut down, how many copies of
    /// the watched key its nodes hold.
    final class RecordingStore: SessionStore {
        let topology = SessionStoreTopology(nodes: [
            .init(id: "m1", isFailover: false, store: SlowNode()), .init(id: "m2", isFailover: false, store: SlowNode()),
        ])
        let shutdowns = Atomic<Int>(0)
        let watchedKey = Mutex<String?>(nil)
        let copiesAtShutdown = Mutex<Int?>(nil)

        func shutdown() async {
            shutdowns.add(1, ordering: .relaxed)
            guard let key = watchedKey.withLock({ $0 }) else { return }
            var copies = 0
            for node in topology.nodes where (try? await node.store.get(key)) != nil { copies += 1 }
            copiesAtShutdown.withLock { $0 = copies }
        }
    }

    @Test func runningClosesTheStoreAfterTheLastAsynchronousWrite() async throws {
        let store = RecordingStore()
        var configuration = SessionManagerConfiguration()
        configuration.sessionBackupAsync = true
        let manager = try SessionManager(configuration: configuration, store: store)
        let group = ServiceGroup(services: [manager], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var browser = Browser()
            let visit = try await browser.visit(manager)  // its write runs after the "response"
            store.watchedKey.withLock { $0 = visit.id.random }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(store.shutdowns.load(ordering: .relaxed) == 1)
        #expect(store.copiesAtShutdown.withLock { $0 } == 2, "the asynchronous write (primary and backup) finished before the store closed")
    }

    @Test func aManagerServingWithoutRunningWarnsOnceWhenItsStoreHasSomethingToClose() async throws {
        let log = CapturedLog()
        let owning = try SessionManager(configuration: SessionManagerConfiguration(), store: RecordingStore(), logger: log.logger())
        var browser = Browser()
        _ = try await browser.visit(owning)
        _ = try await browser.visit(owning)
        #expect(log.messages.filter { $0.contains("not running as a service") }.count == 1)

        let bare = CapturedLog()
        let topologyOnly = try SessionManager(
            configuration: SessionManagerConfiguration(), store: MemorySessionStore.topology(nodeIDs: ["m1"]), logger: bare.logger())
        var other = Browser()
        _ = try await other.visit(topologyOnly)
        #expect(bare.messages.isEmpty, "a bare topology owns nothing to close: \(bare.messages)")
    }
}
