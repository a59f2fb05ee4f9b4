import Hummingbird
import HummingbirdTesting
import SessionManager
import SessionManagerTesting
import Testing

@testable import HummingbirdCart

/// The cart app driven through HummingbirdTesting on the memory store: no memcached needed.
@Suite struct CartTests {
    // snippet: testing-with-the-memory-store
    /// A manager on two memory nodes, with msm's semantics (placement, backup copy, expiry).
    func makeApp() throws -> some ApplicationProtocol {
        let manager = try SessionManager(
            configuration: SessionManagerConfiguration(),
            store: MemorySessionStore.topology(nodeIDs: ["m1", "m2"])
        )
        return Application(router: buildRouter(manager: manager))
    }

    @Test func theCartLivesInTheSession() async throws {
        try await makeApp().test(.router) { client in
            let added = try await client.execute(uri: "/cart/items?item=tea", method: .post)
            let cookie = try #require(added.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            let cart = try await client.execute(uri: "/cart", method: .get, headers: [.cookie: cookie])
            #expect(String(buffer: cart.body) == "tea")
        }
    }
    // end snippet

    // snippet: testing-faults
    /// Non-sticky, so every request reads the store: with the node holding the cart down, the
    /// backup copy on the other node serves it.
    @Test func theCartSurvivesADeadStoreNode() async throws {
        let m1 = FaultInjectingSessionStore(MemorySessionStore())
        let m2 = FaultInjectingSessionStore(MemorySessionStore())
        var configuration = SessionManagerConfiguration()
        configuration.sticky = false
        let manager = try SessionManager(
            configuration: configuration,
            store: SessionStoreTopology(nodes: [
                .init(id: "m1", isFailover: false, store: m1),
                .init(id: "m2", isFailover: false, store: m2),
            ]))
        try await Application(router: buildRouter(manager: manager)).test(.router) { client in
            let added = try await client.execute(uri: "/cart/items?item=tea", method: .post)
            let cookie = try #require(added.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            (cookie.contains("-m1") ? m1 : m2).fault = .down  // the node the session id names dies
            let cart = try await client.execute(uri: "/cart", method: .get, headers: [.cookie: cookie])
            #expect(String(buffer: cart.body) == "tea")
        }
    }
    // end snippet

    @Test func anAnonymousVisitorReadingTheCartGetsNoSession() async throws {
        try await makeApp().test(.router) { client in
            let cart = try await client.execute(uri: "/cart", method: .get)
            #expect(cart.status == .ok)
            #expect(String(buffer: cart.body) == "")
            #expect(cart.headers[.setCookie] == nil)
        }
    }

    @Test func loginKeepsTheCartUnderANewIDAndLogoutEndsBoth() async throws {
        try await makeApp().test(.router) { client in
            let added = try await client.execute(uri: "/cart/items?item=tea", method: .post)
            let anonymous = try #require(added.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            _ = try await client.execute(uri: "/cart/items?item=scones", method: .post, headers: [.cookie: anonymous])

            let refused = try await client.execute(uri: "/login?user=alice&password=guess", method: .post, headers: [.cookie: anonymous])
            #expect(refused.status == .unauthorized)
            let login = try await client.execute(uri: "/login?user=alice&password=wonderland", method: .post, headers: [.cookie: anonymous])
            #expect(login.status == .ok)
            let loggedIn = try #require(login.headers[.setCookie]?.split(separator: ";").first.map(String.init))
            #expect(loggedIn != anonymous, "login rotates the session id")

            let account = try await client.execute(uri: "/account", method: .get, headers: [.cookie: loggedIn])
            #expect(String(buffer: account.body) == "Alice")
            let cart = try await client.execute(uri: "/cart", method: .get, headers: [.cookie: loggedIn])
            #expect(String(buffer: cart.body) == "tea,scones")
            let oldID = try await client.execute(uri: "/account", method: .get, headers: [.cookie: anonymous])
            #expect(oldID.status == .unauthorized, "the pre-login id is dead")

            let logout = try await client.execute(uri: "/logout", method: .post, headers: [.cookie: loggedIn])
            #expect(logout.headers[.setCookie]?.contains("Max-Age=0") == true)
            let afterLogout = try await client.execute(uri: "/account", method: .get, headers: [.cookie: loggedIn])
            #expect(afterLogout.status == .unauthorized)
            let emptyCart = try await client.execute(uri: "/cart", method: .get, headers: [.cookie: loggedIn])
            #expect(String(buffer: emptyCart.body) == "")
        }
    }
}
