import Hummingbird
import HummingbirdSessionManager
import MemcachedSessionStore
import SessionManager

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A visit counter whose sessions live in memcached, so any number of copies of this app behind
/// a load balancer share them. Settings come from the environment:
/// `MEMCACHED_NODES` (msm syntax, default `127.0.0.1:11211`), `PORT` (default 8080), `ROUTE`.
@main
struct HummingbirdMemcachedExample {
    static func main() async throws {
        let environment = ProcessInfo.processInfo.environment
        let port = Int(environment["PORT"] ?? "") ?? 8080

        let store = try MemcachedSessionStore(nodes: environment["MEMCACHED_NODES"] ?? "127.0.0.1:11211")
        var configuration = SessionManagerConfiguration()
        configuration.route = environment["ROUTE"]
        let manager = try SessionManager(configuration: configuration, store: store)

        let router = Router(context: BasicDistributedSessionRequestContext.self)
        router.add(middleware: DistributedSessionMiddleware(manager: manager))
        router.get("/visits") { _, context -> String in
            let session = try await context.sessions.session()
            let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
            try session.setAttribute("visits", visits)
            return "\(visits)\n"
        }

        var app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        // The manager owns the store: on shutdown its last writes reach memcached, then it closes
        // the connections.
        app.addServices(manager)
        try await app.runService()
    }
}
