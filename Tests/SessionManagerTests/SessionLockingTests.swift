import ServerTestSupport
import SessionManagerTestSupport
import Testing

@testable import SessionManager

/// Non-sticky locking against real memcached and Redis nodes: a lock that cannot be had is a
/// typed outcome, locks expire when their owner dies, only the owner releases, and `auto` learns
/// read-only requests.
@Suite(.serialized) struct SessionLockingTests {
    private func lockedServer(
        _ cluster: SessionTestCluster, route: String, policy: LockFailurePolicy = .fail, mode: LockingMode = .all,
        timeout: Duration = .milliseconds(300), expiration: Duration = .seconds(5)
    ) throws -> SessionManager {
        try cluster.makeServer(route: route, sticky: false) {
            $0.lockingMode = mode
            $0.lockTimeout = timeout
            $0.lockExpiration = expiration
            $0.lockFailurePolicy = policy
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func aLockThatCannotBeHadInTimeIsATypedErrorByDefault(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try lockedServer(cluster, route: "A")
            let b = try lockedServer(cluster, route: "B")
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = try #require(browser.cookie)

            let holder = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            _ = try await holder.session()  // holds the lock

            let clock = ContinuousClock()
            let start = clock.now
            let waiter = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            let error = await #expect(throws: SessionError.self) { try await waiter.session() }
            #expect(error?.code == .lockTimeout)
            #expect(clock.now - start < .seconds(3))

            // Asking again in the same request retries the lock; it never falls back to a new session.
            let retry = await #expect(throws: SessionError.self) { try await waiter.session() }
            #expect(retry?.code == .lockTimeout)

            _ = try await holder.finish()  // releases
            let after = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            #expect(try await after.existingSession() != nil)
            _ = try await after.finish()
        }
    }

    /// Issue 9: many requests on one session at once, half on each app server, every one a
    /// read-modify-write with a suspension in the middle (as a handler awaiting anything would
    /// have). With locking, none may lose another's increment, whichever process it ran in.
    @Test(arguments: StoreBackend.underTest, [LockingMode.all, .uriPattern("GET /myapp/.*")])
    func concurrentWritersOnTwoServersLoseNoIncrement(backend: StoreBackend, mode: LockingMode) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let servers = [
                try lockedServer(cluster, route: "A", mode: mode, timeout: .seconds(20)),
                try lockedServer(cluster, route: "B", mode: mode, timeout: .seconds(20)),
            ]
            var browser = Browser()
            var expected = try await browser.visit(servers[0]).visits
            let cookie = try #require(browser.cookie)
            let writers = 12
            let incrementsPerWriter = 8
            for round in 1...3 {
                let increments = try await withThrowingTaskGroup(of: Int.self) { group in
                    for writer in 0..<writers {
                        let server = servers[writer % 2]
                        group.addTask {
                            for _ in 0..<incrementsPerWriter {
                                let request = try #require(server.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
                                let session = try #require(try await request.existingSession())
                                let visits = try session.attribute("visits", as: Int.self) ?? 0
                                await Task.yield()
                                try session.setAttribute("visits", visits + 1)
                                _ = try await request.finish()
                            }
                            return incrementsPerWriter
                        }
                    }
                    return try await group.reduce(0, +)
                }
                expected += increments
                let check = try #require(servers[round % 2].beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
                let visits = try #require(try await check.existingSession()).attribute("visits", as: Int.self)
                _ = try await check.finish()
                #expect(visits == expected, "round \(round): \(expected - (visits ?? 0)) of \(increments) increments lost")
            }
            for server in servers { #expect(server.turns.heldCount == 0, "every turn ended") }
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func proceedWithoutLockIsMsmsPolicyOnRequest(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try lockedServer(cluster, route: "A")
            let b = try lockedServer(cluster, route: "B", policy: .proceedWithoutLock)
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = try #require(browser.cookie)
            let holder = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            _ = try await holder.session()
            let waiter = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            #expect(try await waiter.existingSession() != nil)
            _ = try await waiter.finish()
            _ = try await holder.finish()
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func aDeadOwnersLockExpiresAndOnlyTheOwnerReleasesIt(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            // A's lock expires quickly (Redis: after exactly 1 s; memcached: within 0-2 s, its clock
            // ticks in whole seconds); B's must outlive the intruder check.
            let a = try lockedServer(cluster, route: "A", timeout: .seconds(5), expiration: .seconds(1))
            let b = try lockedServer(cluster, route: "B", timeout: .seconds(5), expiration: .seconds(30))
            let c = try lockedServer(cluster, route: "C", timeout: .milliseconds(300), expiration: .seconds(1))
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = try #require(browser.cookie)

            let stale = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            _ = try await stale.session()  // then "dies" holding the lock
            try await cluster.elapse(.seconds(2))  // past its expiry
            let next = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            #expect(try await next.existingSession() != nil, "the expired lock was taken over")

            // The stale owner finishing must not release the lock that B now holds.
            _ = try await stale.finish()
            let intruder = try #require(c.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            let error = await #expect(throws: SessionError.self) { try await intruder.session() }
            #expect(error?.code == .lockTimeout)
            _ = try await next.finish()
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func autoModeStopsLockingRequestsSeenToBeReadOnly(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try lockedServer(cluster, route: "A", mode: .auto)
            let b = try lockedServer(cluster, route: "B", mode: .auto)
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = try #require(browser.cookie)

            // B learns that GET /myapp/read leaves the session alone, and that PUT modifies it.
            var learner = Browser(cookie: cookie)
            try await learner.request(b, path: "/myapp/read") { _ = try $0.attribute("visits", as: Int.self) }
            try await learner.request(b, method: "PUT", path: "/myapp/write") { try $0.setAttribute("x", UUIDLike.next()) }

            let holder = try #require(a.beginRequest(cookie: cookie, method: "PUT", path: "/myapp/write"))
            _ = try await holder.session()

            let reader = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/read"))
            #expect(try await reader.existingSession() != nil, "a learned read-only request must not wait for the lock")
            _ = try await reader.finish()

            let writer = try #require(b.beginRequest(cookie: cookie, method: "PUT", path: "/myapp/write"))
            let error = await #expect(throws: SessionError.self) { try await writer.session() }
            #expect(error?.code == .lockTimeout)
            _ = try await holder.finish()
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func uriPatternLocksOnlyMatchingRequests(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try lockedServer(cluster, route: "A", mode: .uriPattern("POST /myapp/.*"))
            let b = try lockedServer(cluster, route: "B", mode: .uriPattern("POST /myapp/.*"))
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = try #require(browser.cookie)
            let holder = try #require(a.beginRequest(cookie: cookie, method: "POST", path: "/myapp/login"))
            _ = try await holder.session()
            let reader = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            #expect(try await reader.existingSession() != nil)
            _ = try await reader.finish()
            let poster = try #require(b.beginRequest(cookie: cookie, method: "POST", path: "/myapp/logout"))
            let error = await #expect(throws: SessionError.self) { try await poster.session() }
            #expect(error?.code == .lockTimeout)
            _ = try await holder.finish()
        }
    }

    // MARK: Turns within one process

    @Test(arguments: StoreBackend.underTest)
    func aTurnNotHadInTimeFailsOrProceedsAsThePolicySays(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let strict = try lockedServer(cluster, route: "A", timeout: .milliseconds(200))
            let lenient = try lockedServer(cluster, route: "B", policy: .proceedWithoutLock, timeout: .milliseconds(200))
            for server in [strict, lenient] {
                var browser = Browser()
                _ = try await browser.visit(server)
                let cookie = try #require(browser.cookie)
                let holder = try #require(server.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
                _ = try await holder.session()  // holds this process's turn
                let waiter = try #require(server.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
                if server === strict {
                    let error = await #expect(throws: SessionError.self) { try await waiter.session() }
                    #expect(error?.code == .lockTimeout)
                } else {
                    #expect(try await waiter.existingSession() != nil, "msm's policy: go on without the lock")
                }
                _ = try await waiter.finish()
                _ = try await holder.finish()
                #expect(server.turns.heldCount == 0)
            }
        }
    }

    /// A cancelled request waiting for another server's lock gives up at once (a lock timeout)
    /// instead of asking the store again and again until the timeout: its sleeps between tries
    /// would return immediately.
    @Test(arguments: StoreBackend.underTest)
    func aCancelledRequestStopsWaitingForTheLock(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try lockedServer(cluster, route: "A", timeout: .seconds(8))
            let b = try lockedServer(cluster, route: "B", timeout: .seconds(8))
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = try #require(browser.cookie)
            let holder = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            _ = try await holder.session()  // A holds the store lock
            let waiter = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            let clock = ContinuousClock()
            let started = clock.now
            let waiting = Task { try await waiter.existingSession() }
            try await Task.sleep(for: .milliseconds(100))  // B is retrying its lock by now
            waiting.cancel()
            let error = await #expect(throws: SessionError.self) { try await waiting.value }
            #expect(error?.code == .lockTimeout)
            #expect(clock.now - started < .seconds(4), "gave up when cancelled, not at the 8 s lock timeout")
            _ = try await waiter.finish()
            _ = try await holder.finish()
        }
    }

    @Test(arguments: StoreBackend.underTest)
    func aRequestThatNeverFinishesGivesItsTurnAndLockBack(backend: StoreBackend) async throws {
        try await SessionTestCluster.with(backend: backend, nodes: ["m1", "m2"]) { cluster in
            let a = try lockedServer(cluster, route: "A", timeout: .seconds(3), expiration: .seconds(30))
            let b = try lockedServer(cluster, route: "B", timeout: .seconds(3), expiration: .seconds(30))
            var browser = Browser()
            _ = try await browser.visit(a)
            let cookie = try #require(browser.cookie)
            do {
                let abandoned = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
                _ = try await abandoned.session()  // turn and store lock held; finish() never called
            }
            // Its turn (this process) and its store lock (other servers) come back when it goes away,
            // long before the 30 s lock expiry.
            let sameServer = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            #expect(try await sameServer.existingSession() != nil)
            _ = try await sameServer.finish()
            let otherServer = try #require(b.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            #expect(try await otherServer.existingSession() != nil)
            _ = try await otherServer.finish()
        }
    }

    /// A queue of requests in one process takes the store lock once per 16 holders in a row;
    /// memory nodes count the lock attempts (`add`): 16 queued requests lock once, 17 twice.
    @Test(arguments: [(15, 1), (16, 2)])
    func theLockGoesBackToTheStoreAfterSixteenHoldersInARow(waiters: Int, lockAttempts: Int) async throws {
        #expect(try await lockAttemptsOfAQueue(waiters: waiters) == lockAttempts)
    }

    /// A lock held longer than half its expiry is not handed on: the next request locks anew.
    @Test func anOldLockIsReleasedNotHandedOn() async throws {
        #expect(try await lockAttemptsOfAQueue(waiters: 1, expiration: .seconds(1), holdFor: .milliseconds(600)) == 2)
    }

    /// One request holds a session while `waiters` more of the same process queue behind it, each
    /// incrementing `visits`; returns how often the queue took the store lock (memory nodes count
    /// every `add`), after checking no increment was lost.
    private func lockAttemptsOfAQueue(waiters: Int, expiration: Duration = .seconds(5), holdFor: Duration = .zero) async throws -> Int {
        try await SessionTestCluster.with(backend: .memory, nodes: ["m1", "m2"]) { cluster in
            let a = try lockedServer(cluster, route: "A", timeout: .seconds(10), expiration: expiration)
            var browser = Browser()
            let id = try await browser.visit(a).id
            let cookie = try #require(browser.cookie)
            let nodeID = try #require(id.nodeID)
            let node = try #require(cluster.node(nodeID) as? MemoryStoreNode)
            let attemptsBefore = node.store.counts.adds

            let holder = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
            _ = try await holder.session()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<waiters {
                    group.addTask {
                        let request = try #require(a.beginRequest(cookie: cookie, method: "GET", path: "/myapp/"))
                        let session = try await request.session()
                        try session.setAttribute("visits", (try session.attribute("visits", as: Int.self) ?? 0) + 1)
                        _ = try await request.finish()
                    }
                }
                #expect(try await eventually(every: .milliseconds(1)) { a.turns.waiting(id.random) == waiters }, "every request queued")
                try await Task.sleep(for: holdFor)
                _ = try await holder.finish()
                try await group.waitForAll()
            }
            let attempts = node.store.counts.adds - attemptsBefore
            #expect(try await browser.visit(a).visits == 2 + waiters)
            return attempts
        }
    }
}

/// Distinct values for attributes that must change.
enum UUIDLike {
    static func next() -> String { SessionID.generate(nodeID: nil, route: nil).random }
}
