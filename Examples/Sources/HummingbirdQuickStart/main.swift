// The README's quick start, verbatim (scripts/check-readme-snippets.py fails when they differ).
// snippet: quick-start
import Hummingbird
import HummingbirdSessionManager
import MemcachedSessionStore
import SessionManager

let store = try MemcachedSessionStore(nodes: "m1:127.0.0.1:11211,m2:127.0.0.1:11212", failoverNodes: "m1")
let manager = try SessionManager(configuration: SessionManagerConfiguration(), store: store)
let router = Router(context: BasicDistributedSessionRequestContext.self)
router.add(middleware: DistributedSessionMiddleware(manager: manager))
router.get("/visits") { _, context in
    let session = try await context.sessions.session()  // created if the request has none
    let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
    try session.setAttribute("visits", visits)
    return "\(visits)"
}
var app = Application(router: router)
app.addServices(manager)  // the manager owns the store: on shutdown, last writes first, then connections
try await app.runService()
// end snippet
