import Testing

@testable import SessionManager

/// Configuration that cannot work fails at start, naming the setting. No sockets: the
/// managers run on memory stores.
@Suite struct SessionManagerConfigurationTests {
    private func topology(_ nodeIDs: [String] = ["m1", "m2"], failover: Set<String> = []) throws -> SessionStoreTopology {
        MemorySessionStore.topology(nodeIDs: nodeIDs, failoverNodeIDs: failover)
    }

    private func error(_ configure: (inout SessionManagerConfiguration) -> Void) throws -> SessionConfigurationError? {
        var configuration = SessionManagerConfiguration()
        configure(&configuration)
        let store = try topology()
        return #expect(throws: SessionConfigurationError.self) {
            try SessionManager(configuration: configuration, store: store)
        }
    }

    @Test func theDefaultsAreValid() throws {
        _ = try SessionManager(configuration: SessionManagerConfiguration(), store: try topology())
    }

    @Test func eachInvalidSettingIsNamed() throws {
        #expect(
            try error {
                $0.enabled = false
                $0.sticky = false
            }?.setting == "enabled")
        #expect(try error { $0.route = "A.B" }?.setting == "route (jvmRoute)")
        #expect(try error { $0.route = "" }?.setting == "route (jvmRoute)")
        #expect(try error { $0.storageKeyPrefix = "has space" }?.setting == "storageKeyPrefix")
        #expect(try error { $0.storageKeyPrefix = String(repeating: "p", count: 65) }?.setting == "storageKeyPrefix")
        #expect(try error { $0.requestURIIgnorePattern = "(unclosed" }?.setting == "requestURIIgnorePattern")
        #expect(try error { $0.sessionAttributeFilter = "[" }?.setting == "sessionAttributeFilter")
        #expect(try error { $0.lockingMode = .uriPattern("(") }?.setting == "lockingMode")
        #expect(try error { $0.maximumLocalSessions = 0 }?.setting == "maximumLocalSessions")
        #expect(try error { $0.lockExpiration = .milliseconds(10) }?.setting == "lockExpiration")
        #expect(try error { $0.lockTimeout = .zero }?.setting == "lockTimeout")
        #expect(try error { $0.cookie.name = "SESSION ID" }?.setting == "cookie.name")
        #expect(try error { $0.cookie.path = "/;evil" }?.setting == "cookie.path")
        #expect(try error { $0.cookie.sameSite = SessionCookieConfiguration.SameSite.none }?.setting == "cookie.sameSite")
        #expect(try error { $0.cookie.name = "__Host-SID" }?.setting == "cookie.name", "__Host- without Secure")
        #expect(
            try error {
                $0.cookie.name = "__Host-SID"
                $0.cookie.secure = true
                $0.cookie.path = "/app"
            }?.setting == "cookie.name", "__Host- with a path")
        #expect(
            try error {
                $0.cookie.name = "__host-SID"
                $0.cookie.secure = true
                $0.cookie.domain = "example.com"
            }?.setting == "cookie.name", "__Host- with a domain")
        #expect(try error { $0.cookie.name = "__Secure-SID" }?.setting == "cookie.name", "__Secure- without Secure")
    }

    @Test func hardenedCookieCombinationsAreAccepted() throws {
        var configuration = SessionManagerConfiguration()
        configuration.cookie.name = "__Host-SID"
        configuration.cookie.secure = true
        configuration.cookie.sameSite = .strict
        _ = try SessionManager(configuration: configuration, store: try topology())
        configuration.cookie.name = "__Secure-SID"
        configuration.cookie.domain = "example.com"
        configuration.cookie.path = "/app"
        configuration.cookie.sameSite = SessionCookieConfiguration.SameSite.none
        _ = try SessionManager(configuration: configuration, store: try topology())
    }

    @Test func everyNodeBeingAFailoverNodeIsRejected() throws {
        let nodes = try topology()
        let allFailover = SessionStoreTopology(nodes: nodes.nodes.map { SessionStoreTopology.Node(id: $0.id, isFailover: true, store: $0.store) })
        let error = #expect(throws: SessionConfigurationError.self) {
            try SessionManager(configuration: SessionManagerConfiguration(), store: allFailover)
        }
        #expect(error?.setting == "store", "the parameter the topology was passed as")
    }

    @Test(arguments: ["none", "all", "auto", "uriPattern:POST /.*"])
    func lockingModesParseMsmSyntax(text: String) throws {
        #expect(try #require(LockingMode(parsing: text)).description == text)
    }

    @Test(arguments: ["", "ALL", "uriPattern:", "sometimes"])
    func badLockingModesAreRejected(text: String) {
        #expect(LockingMode(parsing: text) == nil)
    }

    @Test func cookieHeadersCarryTheConfiguredAttributesAndNoDate() {
        var configuration = SessionCookieConfiguration()
        configuration.domain = "example.com"
        configuration.secure = true
        let formatter = SessionCookieFormatter(configuration)
        let id = SessionID.generate(nodeID: "m2", route: "A")
        #expect(formatter.header(for: .set(id)) == "SESSIONID=\(id); Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax")
        #expect(formatter.header(for: .expire) == "SESSIONID=; Max-Age=0; Path=/; Domain=example.com; Secure; HttpOnly; SameSite=Lax")
        #expect(formatter.header(for: .none) == nil)
    }

    @Test func ignorePatternMatchesTheWholePathOnly() throws {
        var configuration = SessionManagerConfiguration()
        configuration.requestURIIgnorePattern = #".*\.(ico|png|gif|jpg|css|js)$"#
        let manager = try SessionManager(configuration: configuration, store: try topology())
        #expect(manager.isIgnored(path: "/favicon.ico"))
        #expect(manager.isIgnored(path: "/a/b/c.css"))
        #expect(!manager.isIgnored(path: "/app.js/page"))
        #expect(!manager.isIgnored(path: "/myapp/"))
    }

    @Test func cookiesNamingUnknownNodesOrNoNodeAreNoSession() throws {
        let manager = try SessionManager(configuration: SessionManagerConfiguration(), store: try topology())
        let random = "0123456789ABCDEF0123456789ABCDEF"
        #expect(manager.requestedSessionID("\(random)-m1.A") != nil)
        #expect(manager.requestedSessionID("\(random)-m3.A") == nil)
        #expect(manager.requestedSessionID("\(random).A") == nil)
        #expect(manager.requestedSessionID(nil) == nil)
    }
}
