import Testing

@testable import SessionManager

@Suite struct LocalSessionsTests {
    @Test func leastRecentlyUsedSessionsAreDroppedBeyondCapacity() {
        let local = LocalSessions(capacity: 10)
        for index in 0..<10 { local.insert(makeSession(), random: "\(index)", retain: false) }
        _ = local.session("0", retain: false)  // recently used: survives
        local.insert(makeSession(), random: "10", retain: false)
        #expect(local.count <= 10)
        #expect(local.session("0", retain: false) != nil)
        #expect(local.session("10", retain: false) != nil)
        #expect(local.session("1", retain: false) == nil)
    }

    @Test func sessionsInUseAreNeverEvicted() {
        let local = LocalSessions(capacity: 2)
        local.insert(makeSession(), random: "busy", retain: true)
        for index in 0..<10 { local.insert(makeSession(), random: "\(index)", retain: false) }
        #expect(local.session("busy", retain: false) != nil)
    }

    @Test func theLastUserReleasesTheEntry() {
        let local = LocalSessions(capacity: 10)
        local.insert(makeSession(), random: "x", retain: true)
        _ = local.session("x", retain: true)
        #expect(local.release("x", dropWhenUnused: true) == false)
        #expect(local.session("x", retain: false) != nil)
        #expect(local.release("x", dropWhenUnused: true))
        #expect(local.session("x", retain: false) == nil)
    }

    @Test func oversizedAttributeNamesAreAnErrorNotACrash() {
        let session = makeSession()
        let name = String(repeating: "a", count: 66_000)
        let error = #expect(throws: SessionError.self) { try session.setAttribute(name, 1) }
        #expect(error?.code == .attributeCoding)
        #expect(throws: SessionError.self) { try session.setRawAttribute("", [1]) }
        #expect(session.attributeNames.isEmpty)
    }

    @Test func changingTheIDMovesTheSharedEntrySoEveryUserReleasesIt() {
        let local = LocalSessions(capacity: 10)
        let shared = makeSession()
        let old = shared.id.random
        local.insert(shared, random: old, retain: true)
        _ = local.session(old, retain: true)  // a second request shares it
        let new = SessionID.generate(nodeID: nil, route: nil)
        local.changeID(of: shared, from: old) { $0.id = new }
        #expect(local.release(shared.id.random, dropWhenUnused: true) == false)
        #expect(local.release(shared.id.random, dropWhenUnused: true), "the last user releases it under the new id")
        #expect(local.count == 0)
    }

    @Test func readOnlyLearningIsOverriddenByAModification() {
        let cache = ReadOnlyRequests()
        cache.record("GET /a", modified: false)
        #expect(cache.isReadOnly("GET /a"))
        cache.record("GET /a", modified: true)
        #expect(!cache.isReadOnly("GET /a"))
        cache.record("GET /a", modified: false)
        #expect(!cache.isReadOnly("GET /a"), "once seen modifying, a request keeps locking")
    }
}
