import Foundation
import Testing

/// The seed's 8-step walkthrough through real nginx, two real `msm serve` and two real
/// memcached, all started by `msm demo` on free loopback ports. Serialized: each run owns
/// five processes, and the machine has two cores.
@Suite(.serialized) struct SeedWalkthroughTests {
    /// A browser behind the demo's nginx: keeps the cookie, checks what every response says.
    struct Browser {
        let port: Int
        var cookie: String?
        var lastVisits = 0

        /// `GET /myapp/`; returns the JSON and whether the response set the cookie.
        mutating func visit(sourceLocation: SourceLocation = #_sourceLocation) throws -> (info: [String: Any], setCookie: String?) {
            let reply = try HTTPTestClient.request(port: port, path: "/myapp/", cookie: cookie.map { "SESSIONID=\($0)" })
            #expect(reply.status == 200, "\(reply)", sourceLocation: sourceLocation)
            let info = reply.json
            let set = reply.setCookie("SESSIONID")
            if let set { cookie = set }
            let visits = info["visits"] as? Int ?? -1
            #expect(visits > lastVisits, "visits went from \(lastVisits) to \(visits): a stale copy was served", sourceLocation: sourceLocation)
            lastVisits = visits
            #expect(info["sessionId"] as? String == cookie, "the page shows the cookie's id", sourceLocation: sourceLocation)
            return (info, set)
        }

        var random: String? { cookie.map { String($0.prefix { $0 != "-" }) } }
        var node: String? { cookie.flatMap { $0.split(separator: "-").dropFirst().first.map { String($0.prefix { $0 != "." }) } } }
        var route: String? { cookie.flatMap { $0.split(separator: ".", maxSplits: 1).dropFirst().first.map(String.init) } }
    }

    @Test(arguments: ["--sticky", "--non-sticky"])
    func theSeedsWalkthrough(mode: String) async throws {
        let demo = try await DemoClusterProcess.startReady(arguments: [mode])
        do {
            try await walkthrough(demo)
            await demo.stop()
        } catch {
            await demo.stop()
            throw error
        }
        #expect(demo.log.contains("stopped everything it started"), "\(demo.log)")
    }

    private func walkthrough(_ demo: DemoClusterProcess) async throws {
        var browser = Browser(port: demo.nginxPort)

        // 1. First visit: Set-Cookie with a new id on m2.
        let first = try browser.visit()
        #expect(first.setCookie != nil)
        #expect(browser.node == "m2")
        let random = try #require(browser.random)
        #expect(random.count == 32)
        let created = try #require(first.info["created"] as? String)
        let createdDate = try #require(ISO8601DateFormatter().date(from: created), "created \(created) is not ISO 8601")
        #expect(abs(createdDate.timeIntervalSinceNow) < 300)

        // 2-4. Round robin alternates servers: same id, the route suffix follows the server that
        // answered, and Set-Cookie is sent exactly when the route changes.
        var routesSeen: Set<String> = []
        for _ in 0..<6 {
            let routeBefore = browser.route
            let step = try browser.visit()
            let servedBy = try #require(step.info["servedBy"] as? String)
            routesSeen.insert(servedBy)
            #expect(browser.random == random)
            #expect(browser.route == servedBy)
            #expect((step.setCookie != nil) == (routeBefore != servedBy), "Set-Cookie only when the route changes")
        }
        #expect(routesSeen == ["A", "B"], "nginx alternates the two app servers")

        // Same server twice in a row (directly): no Set-Cookie the second time.
        let direct = demo.appPorts[0]
        var pinned = Browser(port: direct, cookie: browser.cookie, lastVisits: browser.lastVisits)
        _ = try pinned.visit()
        #expect(try pinned.visit().setCookie == nil)
        browser.cookie = pinned.cookie
        browser.lastVisits = pinned.lastVisits

        // A static file does no session work: memcached's own counters do not move.
        let countersBefore = try demo.memcachedPorts.map { try HTTPTestClient.memcachedStats(port: $0) }
        let asset = try HTTPTestClient.request(port: demo.nginxPort, path: "/myapp/static/logo.png", cookie: browser.cookie.map { "SESSIONID=\($0)" })
        #expect(asset.status == 200)
        #expect(asset.setCookie("SESSIONID") == nil)
        let countersAfter = try demo.memcachedPorts.map { try HTTPTestClient.memcachedStats(port: $0) }
        for (before, after) in zip(countersBefore, countersAfter) {
            for counter in ["cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses", "get_hits", "get_misses"] {
                #expect(before[counter] == after[counter], "\(counter) moved on a static request")
            }
        }

        // 5. Stop memcached m2: the browser keeps working; its id's node part becomes m1.
        try await demo.command("stop m2", expect: "stopped m2")
        _ = try browser.visit()
        _ = try browser.visit()
        #expect(browser.random == random)
        #expect(browser.node == "m1")

        // 6. A new browser gets a session on m1.
        var newcomer = Browser(port: demo.nginxPort)
        _ = try newcomer.visit()
        #expect(newcomer.node == "m1")

        // 7. The old browser: same session, on m1, on both servers.
        _ = try browser.visit()
        _ = try browser.visit()
        #expect(browser.random == random)
        #expect(browser.node == "m1")

        // 8. Start m2 again: sessions move back to m2 on their next requests.
        try await demo.command("start m2", expect: "started m2")
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(15)
        while browser.node != "m2" && clock.now < deadline {
            _ = try browser.visit()
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(browser.node == "m2")
        #expect(browser.random == random)
        _ = try browser.visit()
        #expect(browser.node == "m2")

        // A crashed app server loses no session: nginx sends everyone to the other one.
        try await demo.command("stop A", expect: "stopped A")
        for _ in 0..<3 {
            let step = try browser.visit()
            #expect(step.info["servedBy"] as? String == "B")
        }
        try await demo.command("start A", expect: "started A")

        // Login rotates the id (the old one is dead); logout expires the cookie.
        let oldCookie = try #require(browser.cookie)
        let login = try HTTPTestClient.request("POST", port: demo.nginxPort, path: "/myapp/login?user=bob", cookie: "SESSIONID=\(oldCookie)")
        #expect(login.status == 200)
        let rotated = try #require(login.setCookie("SESSIONID"))
        #expect(!rotated.hasPrefix(random))
        #expect(login.json["visits"] as? Int == browser.lastVisits)
        var attacker = Browser(port: demo.nginxPort, cookie: oldCookie)
        _ = try attacker.visit()
        #expect(attacker.random != random && attacker.lastVisits == 1, "the pre-login id must be dead")

        let logout = try HTTPTestClient.request("POST", port: demo.nginxPort, path: "/myapp/logout", cookie: "SESSIONID=\(rotated)")
        #expect(logout.status == 200)
        #expect(logout.header("Set-Cookie").contains { $0.hasPrefix("SESSIONID=;") && $0.contains("Max-Age=0") })
    }
}
