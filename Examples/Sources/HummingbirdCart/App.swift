import Hummingbird
import MemcachedSessionStore
import SessionManager

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A shopping cart in a distributed session, with login and logout. Settings come from the
/// environment: `MEMCACHED_NODES` (msm syntax, default `127.0.0.1:11211`), `PORT` (default 8080).
@main
struct HummingbirdCartExample {
    static func main() async throws {
        let environment = ProcessInfo.processInfo.environment
        let store = try MemcachedSessionStore(nodes: environment["MEMCACHED_NODES"] ?? "127.0.0.1:11211")
        let manager = try SessionManager(configuration: SessionManagerConfiguration(), store: store)
        var app = Application(
            router: buildRouter(manager: manager),
            configuration: .init(address: .hostname("127.0.0.1", port: Int(environment["PORT"] ?? "") ?? 8080))
        )
        app.addServices(manager)
        try await app.runService()
    }
}
