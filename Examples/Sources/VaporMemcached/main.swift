// The README's Vapor example (scripts/check-readme-snippets.py checks it), run by `make test`
// against a real memcached. Settings from the environment: MEMCACHED_NODES (msm syntax, default
// 127.0.0.1:11211), PORT (default 8080).
// snippet: vapor-quick-start
import Foundation
import MemcachedSessionStore
import SessionManager
import Vapor
import VaporSessionManager

let app = try await Application.make(.detect())
let store = try MemcachedSessionStore(nodes: ProcessInfo.processInfo.environment["MEMCACHED_NODES"] ?? "m1:127.0.0.1:11211,m2:127.0.0.1:11212")
app.distributedSessions.use(try SessionManager(configuration: SessionManagerConfiguration(), store: store))
app.get("visits") { req async throws -> String in
    let session = try await req.distributedSession.session()  // created if the request has none
    let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
    try session.setAttribute("visits", visits)
    return "\(visits)\n"
}
// end snippet

// Login on the middleware path: the user id recorded at login, the user found again on later
// requests by DistributedSessionAuthenticator and put in req.auth.
struct Customer: Authenticatable {
    var id: String
    var name: String
}
let customers = ["alice": Customer(id: "alice", name: "Alice")]
app.post("login", ":id") { req async throws -> String in
    guard let customer = customers[req.parameters.get("id") ?? ""] else { throw Abort(.unauthorized) }
    try await req.distributedSession.logIn(userID: customer.id)  // a new session id against fixation
    return "welcome\n"
}
app.grouped(DistributedSessionAuthenticator(String.self) { id, _ in customers[id] }, Customer.guardMiddleware())
    .get("account") { req throws -> String in "\(try req.auth.require(Customer.self).name)\n" }
app.post("logout") { req async throws -> String in
    try await req.distributedSession.logOut()
    return "bye\n"
}

app.http.server.configuration.hostname = "127.0.0.1"
app.http.server.configuration.port = Int(ProcessInfo.processInfo.environment["PORT"] ?? "") ?? 8080
try await app.execute()
try await app.asyncShutdown()
