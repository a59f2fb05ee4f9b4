import ServerTestSupport
import SessionManagerTestSupport
import Testing

@testable import SessionManager

/// msm's failover semantics against real memcached and Redis nodes that the tests kill and restart.
/// Serialized: they time node recoveries, and parallel clusters would blur that on 2 cores.
@Suite(.serialized) struct SessionManagerFailoverTests {
    /// The seed's whole walkthrough at the core level: m2 active, m1 failover, app servers A and B
    /// behind a round-robin balancer.
    @Test(arguments: StoreBackend.underTest, [true, false])
    func seedWalkthrough(backend: StoreBackend, sticky: Bool) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"], failoverNodes: "m1") { cluster in
            let a = try cluster.makeServer(route: "A", sticky: sticky)
            let b = try cluster.makeServer(route: "B", sticky: sticky)
            var browser = Browser()

            // 1. First visit: a new id on m2 (m1 is only for failover), route A.
            let first = try await browser.visit(a)
            #expect(first.visits == 1)
            guard case .set(let id) = first.action else {
                Issue.record("no Set-Cookie on the first visit")
                return
            }
            #expect(id.nodeID == "m2")
            #expect(id.route == "A")

            // 2. Same server: same session, no Set-Cookie.
            let second = try await browser.visit(a)
            #expect(second.visits == 2)
            #expect(second.action == .none)

            // 3. Other server: same random id, route B, and never a stale copy.
            let third = try await browser.visit(b)
            #expect(third.visits == 3)
            #expect(third.action == .set(id.routed(to: "B")))

            // 4. Back on A: route A again, visits keep counting.
            let fourth = try await browser.visit(a)
            #expect(fourth.visits == 4)
            #expect(fourth.action == .set(id))

            // Both nodes hold every session: m1 has the backup copy.
            #expect(try await cluster.rawGet(id.random, on: "m1") != nil)
            #expect(try await cluster.rawGet(id.random, on: "m2") != nil)

            // 5. m2 dies: the session keeps working; its node part becomes m1.
            await cluster.node("m2").kill()
            let fifth = try await browser.visit(b)
            #expect(fifth.visits == 5)
            #expect(browser.id?.nodeID == "m1")
            #expect(browser.id?.random == id.random)

            // 6. A new browser gets a session on m1.
            var newcomer = Browser()
            let fresh = try await newcomer.visit(a)
            #expect(fresh.visits == 1)
            #expect(newcomer.id?.nodeID == "m1")

            // 7. The old browser on either server: same session, node m1.
            #expect(try await browser.visit(a).visits == 6)
            #expect(try await browser.visit(b).visits == 7)
            #expect(browser.id?.nodeID == "m1")

            // 8. m2 returns (empty): sessions move back to m2 on their next request.
            try await cluster.node("m2").restart()
            var visits = 7
            let movedBack = try await eventually {
                visits = try await browser.visit(visits.isMultiple(of: 2) ? a : b).visits
                return browser.id?.nodeID == "m2"
            }
            #expect(movedBack)
            #expect(visits >= 8)
            #expect(try await cluster.rawGet(id.random, on: "m2") != nil)
            let newcomerBack = try await eventually { try await newcomer.visit(b).visits > 0 && newcomer.id?.nodeID == "m2" }
            #expect(newcomerBack)
        }
    }

    /// Three regular nodes: the primary, then the backup's node, fail in turn; no visit is lost.
    @Test(arguments: StoreBackend.underTest, [true, false])
    func primaryAndBackupNodesFailInTurn(backend: StoreBackend, sticky: Bool) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["n1", "n2", "n3"]) { cluster in
            let a = try cluster.makeServer(route: "A", sticky: sticky)
            let b = try cluster.makeServer(route: "B", sticky: sticky)
            var browser = Browser()
            #expect(try await browser.visit(a).visits == 1)
            #expect(try await browser.visit(b).visits == 2)

            let primary = try #require(browser.id?.nodeID)
            await cluster.node(primary).kill()
            #expect(try await browser.visit(a).visits == 3)
            let secondPrimary = try #require(browser.id?.nodeID)
            #expect(secondPrimary != primary)
            try await cluster.node(primary).restart()

            // Now kill the node the session just moved to; its backup copy must be elsewhere.
            await cluster.node(secondPrimary).kill()
            #expect(try await browser.visit(b).visits == 4)
            let thirdPrimary = try #require(browser.id?.nodeID)
            #expect(thirdPrimary != secondPrimary)
            #expect(try await browser.visit(a).visits == 5)
        }
    }

    @Test(arguments: StoreBackend.underTest, [true, false])
    func aNodeKilledBetweenRequestsLosesNothing(backend: StoreBackend, sticky: Bool) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try cluster.makeServer(route: "A", sticky: sticky)
            var browsers = [Browser](repeating: Browser(), count: 6)
            for index in browsers.indices { _ = try await browsers[index].visit(a) }
            await cluster.node("m1").kill()
            for index in browsers.indices {
                let second = try await browsers[index].visit(a)
                #expect(second.visits == 2)
                #expect(browsers[index].id?.nodeID == "m2")
            }
        }
    }

    /// A hung node (SIGSTOP: it keeps its sockets but never answers) costs a request at most the
    /// operation timeout, then the node is marked down and its sessions are served from their
    /// backups; after SIGCONT it serves again.
    @Test(arguments: StoreBackend.underTest)
    func aFrozenNodeCostsATimeoutThenFailsOver(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try cluster.makeServer(route: "A", sticky: false)
            var browsers = [Browser](repeating: Browser(), count: 4)
            for index in browsers.indices { _ = try await browsers[index].visit(a) }
            let onM1 = browsers.indices.filter { browsers[$0].id?.nodeID == "m1" }
            #expect(!onM1.isEmpty)

            cluster.node("m1").suspend()
            let clock = ContinuousClock()
            for index in onM1 {
                let start = clock.now
                let second = try await browsers[index].visit(a)
                #expect(second.visits == 2)
                #expect(browsers[index].id?.nodeID == "m2")
                // 500 ms operation timeout in the test cluster, slack for a loaded machine; a hang is unbounded.
                #expect(clock.now - start < .seconds(3), "a request against a frozen node took \(clock.now - start)")
            }
            cluster.node("m1").resume()
            var fresh = Browser()
            let placedOnM1 = try await eventually {
                fresh = Browser()
                return try await fresh.visit(a).id.nodeID == "m1"
            }
            #expect(placedOnM1, "m1 takes new sessions again once it answers")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func allNodesDownStickyKeepsServingFromMemory(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try cluster.makeServer(route: "A", sticky: true)
            var browser = Browser()
            _ = try await browser.visit(a)
            let id = try #require(browser.id)
            await cluster.node("m1").kill()
            await cluster.node("m2").kill()
            let clock = ContinuousClock()
            let start = clock.now
            let during = try await browser.visit(a)
            #expect(during.visits == 2)
            #expect(during.action == .none)
            #expect(browser.id == id)
            #expect(clock.now - start < .seconds(5))
        }
    }

    /// A node that restarts empty must not lose the sessions its backup node still holds.
    @Test(arguments: StoreBackend.underTest, [true, false])
    func aPrimaryThatRestartedEmptyIsRefilledFromTheBackup(backend: StoreBackend, sticky: Bool) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try cluster.makeServer(route: "A", sticky: sticky)
            let b = try cluster.makeServer(route: "B", sticky: sticky)
            var browser = Browser()
            _ = try await browser.visit(a)
            #expect(try await browser.visit(a).visits == 2)
            let id = try #require(browser.id)
            try await cluster.node(id.nodeID!).restart()  // comes back empty
            let after = try await browser.visit(b)  // B must read the store
            #expect(after.visits == 3, "the session was lost although its backup copy survived")
            #expect(after.id.random == id.random)
            #expect(try await cluster.rawGet(id.random, on: id.nodeID!) != nil, "the restarted node got the session back")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func allNodesDownStickyWithoutALocalCopyIsAnErrorNotANewSession(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try cluster.makeServer(route: "A", sticky: true)
            let b = try cluster.makeServer(route: "B", sticky: true)
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = browser.cookie
            await cluster.killAll()
            let error = await #expect(throws: SessionError.self) { try await browser.visit(b) }
            #expect(error?.code == .storeUnavailable)
            #expect(browser.cookie == cookie, "the user's cookie must not be replaced by a fresh session")
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func allNodesDownNonStickyIsAClearErrorNotAHang(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try cluster.makeServer(route: "A", sticky: false)
            var browser = Browser()
            _ = try await browser.visit(a)
            await cluster.node("m1").kill()
            await cluster.node("m2").kill()
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: SessionError.self) { try await browser.visit(a) }
            #expect(error?.code == .storeUnavailable)
            var newcomer = Browser()
            let newError = await #expect(throws: SessionError.self) { try await newcomer.visit(a) }
            #expect(newError?.code == .storeUnavailable)
            #expect(clock.now - start < .seconds(5))
        }
    }

    @Test(arguments: StoreBackend.underTest, [true, false])
    func aSingleNodeWithoutIDWorksWithoutBackup(backend: StoreBackend, sticky: Bool) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: [""]) { cluster in
            let a = try cluster.makeServer(route: nil, sticky: sticky)
            let b = try cluster.makeServer(route: nil, sticky: sticky)
            var browser = Browser()
            let first = try await browser.visit(a)
            #expect(first.id.nodeID == nil)
            #expect(first.id.route == nil)
            // Without routes, sticky mode trusts a sticky balancer: stay on one server.
            #expect(try await browser.visit(sticky ? a : b).visits == 2)
            #expect(try await browser.visit(a).visits == 3)
        }
    }
}
