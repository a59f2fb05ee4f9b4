// The README's drop-in example for existing Vapor apps (scripts/check-readme-snippets.py checks
// it). Built by `make test`.
// snippet: vapor-session-driver
import MemcachedSessionStore
import SessionManager
import Vapor
import VaporSessionManager

let app = try await Application.make(.detect())
let store = try MemcachedSessionStore(nodes: "m1:127.0.0.1:11211,m2:127.0.0.1:11212", failoverNodes: "m1")
app.sessions.use(.distributed(try SessionManager(configuration: SessionManagerConfiguration(), store: store)))
app.middleware.use(app.sessions.middleware)  // Vapor's own SessionsMiddleware, unchanged code below
app.get("visits") { req -> String in
    let visits = (Int(req.session.data["visits"] ?? "") ?? 0) + 1
    req.session.data["visits"] = String(visits)
    return "\(visits)\n"
}
// end snippet
try await app.execute()
try await app.asyncShutdown()
