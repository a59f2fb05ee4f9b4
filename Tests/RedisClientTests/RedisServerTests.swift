import RedisClient
import Testing

/// A server URL as the client itself reads and checks it (the node list wraps these errors).
@Suite struct RedisServerTests {
    @Test func parsesEveryPart() throws {
        let server = try RedisServer(url: "rediss://alice:p%40ss@[::1]:6380/2")
        #expect(server == RedisServer(host: "::1", port: 6380, database: 2, username: "alice", password: RedisPassword("p@ss"), usesTLS: true))
        #expect(server.description == "rediss://alice:***@[::1]:6380/2")
        #expect(try RedisServer(url: "redis://h") == RedisServer(host: "h"), "port 6379, database 0")
    }

    @Test(arguments: [
        "h:6379", "http://h", "redis://", "redis://h:", "redis://h:0", "redis://::1", "redis://h/x", "redis://h?db=1", "redis://alice@h",
        "redis://:@h",
    ])
    func badURLsAreInvalidAddressErrors(url: String) {
        let error = #expect(throws: RedisError.self) { try RedisServer(url: url) }
        #expect(error?.code == .invalidAddress)
    }

    @Test func aServerMadeInCodeIsCheckedByTheClient() {
        for server in [
            RedisServer(host: "a/b"), RedisServer(host: "h", port: 0), RedisServer(host: "h", database: -1),
            RedisServer(host: "h", username: "alice"),
        ] {
            let error = #expect(throws: RedisError.self, "\(server)") { try RedisClient(server: server) }
            #expect(error?.code == .invalidAddress)
        }
    }
}
