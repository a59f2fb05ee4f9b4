// The README's example of the core without a web framework, verbatim
// (scripts/check-readme-snippets.py checks it). Built by `make test`.
// snippet: session-manager-core
import MemcachedClient
import MemcachedSessionStore
import SessionManager

var clientConfiguration = MemcachedClientConfiguration()
clientConfiguration.maximumReconnectDelay = .seconds(1)  // notice a returning node quickly
let store = try MemcachedSessionStore(
    nodes: "m1:127.0.0.1:11211,m2:127.0.0.1:11212", failoverNodes: "m1", configuration: clientConfiguration)
// On Redis: try RedisSessionStore(nodes: "r1:redis://127.0.0.1:6379,r2:redis://127.0.0.1:6380", failoverNodes: "r1")

var configuration = SessionManagerConfiguration()
configuration.route = "A"  // msm's jvmRoute
configuration.maxInactiveInterval = .seconds(30 * 60)
configuration.requestURIIgnorePattern = #".*\.(ico|png|gif|jpg|css|js)$"#
let manager = try SessionManager(configuration: configuration, store: store)  // a Service: run it

/// One request, the way an adapter drives it; returns the `Set-Cookie` value to send, if any.
func handle(cookie: String?, method: String, path: String, with manager: SessionManager) async throws -> String? {
    guard let request = manager.beginRequest(cookie: cookie, method: method, path: path) else { return nil }  // ignored path
    let session = try await request.session()  // loaded (and locked) lazily; existingSession() never creates
    let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
    try session.setAttribute("visits", visits)
    let action = try await request.finish()  // stores before the response leaves
    return manager.setCookieHeader(for: action)
}
// end snippet
print(try await handle(cookie: nil, method: "GET", path: "/", with: manager) ?? "no cookie")
