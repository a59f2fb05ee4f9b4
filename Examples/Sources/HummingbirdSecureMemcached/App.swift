import Hummingbird
import HummingbirdSessionManager
import MemcachedClient
import MemcachedSessionStore
import MemcachedTLS
import NIOSSL
import SessionCrypto
import SessionManager

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The visit counter of `HummingbirdMemcached`, hardened: sessions encrypted at rest, memcached
/// logged in to (`memcached -Y`) and reached over TLS (`memcached -Z`). Settings come from the
/// environment: `SESSION_ENCRYPTION_KEYS` (required: `msm new-encryption-key` makes one),
/// `MEMCACHED_NODES`, `MEMCACHED_USERNAME` and `MEMCACHED_PASSWORD` (optional), `MEMCACHED_TLS_CA_FILE`
/// (optional: turns TLS on, verified against that CA), `PORT`, `ROUTE`.
@main
struct HummingbirdSecureMemcachedExample {
    static func main() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let keys = environment["SESSION_ENCRYPTION_KEYS"] else {
            fatalError("set SESSION_ENCRYPTION_KEYS, e.g. to the output of `msm new-encryption-key`")
        }

        // snippet: secure-memcached
        var client = MemcachedClientConfiguration()
        if let username = environment["MEMCACHED_USERNAME"], let password = environment["MEMCACHED_PASSWORD"] {
            client.credentials = try MemcachedCredentials(username: username, password: password)  // memcached -Y
        }
        if let authority = environment["MEMCACHED_TLS_CA_FILE"] {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(authority)
            try client.useTLS(tls)  // memcached -Z
        }
        let store = try MemcachedSessionStore(nodes: environment["MEMCACHED_NODES"] ?? "127.0.0.1:11211", configuration: client)

        var configuration = SessionManagerConfiguration()
        configuration.route = environment["ROUTE"]
        configuration.encryption = try SessionEncryption(parsing: keys)  // "NEWKEY,OLDKEY": the first encrypts
        let manager = try SessionManager(configuration: configuration, store: store)
        // end snippet

        let router = Router(context: BasicDistributedSessionRequestContext.self)
        router.add(middleware: DistributedSessionMiddleware(manager: manager))
        router.get("/visits") { _, context -> String in
            let session = try await context.sessions.session()
            let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
            try session.setAttribute("visits", visits)
            return "\(visits)\n"
        }

        var app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: Int(environment["PORT"] ?? "") ?? 8080)))
        app.addServices(manager)
        try await app.runService()
    }
}
