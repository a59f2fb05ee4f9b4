import MemcachedClient
import MemcachedSessionStore
import SessionManager
import Testing

/// The store made from msm's settings, without a socket: clients connect on first use.
@Suite struct MemcachedSessionStoreTests {
    @Test func oneClientPerNodeInListOrderWithTheFailoverNodesMarked() throws {
        let store = try MemcachedSessionStore(nodes: "m1:127.0.0.1:1, m2:[::1]:2", failoverNodes: "m1")
        #expect(store.clients.map(\.server) == [MemcachedServer(host: "127.0.0.1", port: 1), MemcachedServer(host: "::1", port: 2)])
        #expect(store.client(forNode: "m2")?.server.port == 2)
        #expect(store.client(forNode: "m9") == nil)
        #expect(store.topology.nodes.map(\.id) == ["m1", "m2"])
        #expect(store.topology.nodes.map(\.isFailover) == [true, false])
        #expect(try MemcachedSessionStore(nodes: "127.0.0.1:1").client(forNode: nil) != nil, "a single node listed without id")
    }

    @Test func badSettingsAreConfigurationErrorsNamingTheSetting() {
        let list = #expect(throws: SessionConfigurationError.self) { try MemcachedSessionStore(nodes: "m1:127.0.0.1:0") }
        #expect(list?.setting == "nodes", "named as the caller wrote it: the parameter")
        #expect(list?.message.contains("m1:127.0.0.1:0") == true)
        let failover = #expect(throws: SessionConfigurationError.self) {
            try MemcachedSessionStore(nodes: "m1:127.0.0.1:1,m2:127.0.0.1:2", failoverNodes: "m3")
        }
        #expect(failover?.setting == "failoverNodes", "a bad failover list is not blamed on the node list")
        #expect(failover?.message.contains("m3") == true)
        var configuration = MemcachedClientConfiguration()
        configuration.connectionsPerNode = 0
        let client = #expect(throws: SessionConfigurationError.self) {
            try MemcachedSessionStore(nodes: "127.0.0.1:1", configuration: configuration)
        }
        #expect(client?.setting == "configuration")
    }
}
