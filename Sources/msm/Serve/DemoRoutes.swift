import SessionManager

/// A handler's session access, whichever framework serves the demo: Hummingbird's
/// `context.sessions` and Vapor's `req.distributedSession` both have these calls.
protocol DemoSessions: Sendable {
    func session() async throws -> Session
    func existingSession() async throws -> Session?
    func changeSessionID() async throws -> SessionID
    func invalidate() async throws
    func persist() async throws
}

/// What a demo route answers, before a framework turns it into its response type.
struct DemoReply: Sendable {
    var status: Int
    var contentType: String
    var body: String

    static func text(_ body: String, status: Int = 200) -> DemoReply {
        DemoReply(status: status, contentType: "text/plain; charset=utf-8", body: body)
    }
}

/// The `/myapp` routes of DESIGN.md, framework-agnostic: the Hummingbird and the Vapor server
/// register the same handlers, so both answer with the same JSON and cookies.
struct DemoRoutes: Sendable {
    let route: String?
    let nodes: StoreNodes

    /// What the seed's test page shows, as JSON.
    struct SessionInfo {
        var sessionId: String
        var servedBy: String?
        var node: String?
        var visits: Int
        var created: String

        /// Written by hand: on the benchmarked path `JSONEncoder` cost more than the session work.
        /// Every value is an id, a route, a node id or a timestamp: validated ASCII, no escaping needed.
        var json: String {
            func string(_ value: String?) -> String { value.map { "\"\($0)\"" } ?? "null" }
            return
                #"{"sessionId":\#(string(sessionId)),"servedBy":\#(string(servedBy)),"node":\#(string(node)),"visits":\#(visits),"created":\#(string(created))}"#
        }
    }

    /// `GET /myapp/`: counts the visit and shows where the session lives.
    func visit(_ sessions: some DemoSessions, acceptsJSON: Bool) async throws -> DemoReply {
        let session = try await sessions.session()
        let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
        try session.setAttribute("visits", visits)
        try await sessions.persist()  // the page shows the node the session is stored on
        return page(for: session, visits: visits, acceptsJSON: acceptsJSON)
    }

    /// `PUT /myapp/attributes/:name`: the body, as a string attribute.
    func setAttribute(_ sessions: some DemoSessions, name: String, value: String) async throws -> DemoReply {
        try await sessions.session().setAttribute(name, value)
        return DemoReply(status: 204, contentType: "text/plain; charset=utf-8", body: "")
    }

    /// `GET /myapp/attributes/:name`: strings as themselves, other values as their JSON text.
    func attribute(_ sessions: some DemoSessions, name: String) async throws -> DemoReply {
        guard let session = try await sessions.existingSession(), let raw = session.rawAttribute(name) else {
            return .text("no attribute \(name)", status: 404)
        }
        let isString = raw.first == UInt8(ascii: "\"")
        return .text((isString ? try? session.attribute(name, as: String.self) : nil) ?? String(decoding: raw, as: UTF8.self))
    }

    /// `DELETE /myapp/attributes/:name`.
    func removeAttribute(_ sessions: some DemoSessions, name: String) async throws -> DemoReply {
        try await sessions.existingSession()?.removeAttribute(name)
        return DemoReply(status: 204, contentType: "text/plain; charset=utf-8", body: "")
    }

    /// `POST /myapp/login?user=NAME`: a new id (session fixation), the user recorded.
    func login(_ sessions: some DemoSessions, user: String?, acceptsJSON: Bool) async throws -> DemoReply {
        guard let user, !user.isEmpty else { return .text("login needs ?user=NAME", status: 400) }
        let session = try await sessions.session()
        _ = try await sessions.changeSessionID()
        try session.setAttribute("user", user)
        try await sessions.persist()
        return page(for: session, visits: try session.attribute("visits", as: Int.self) ?? 0, acceptsJSON: acceptsJSON)
    }

    /// `POST /myapp/logout`.
    func logout(_ sessions: some DemoSessions) async throws -> DemoReply {
        try await sessions.invalidate()
        return .text("logged out\n")
    }

    /// `GET /myapp/static/:file`: under the ignore pattern, so no session work at all.
    func staticFile(_ file: String) -> DemoReply {
        DemoReply(status: 200, contentType: "application/octet-stream", body: "static \(file)\n")
    }

    private func page(for session: Session, visits: Int, acceptsJSON: Bool) -> DemoReply {
        let id = session.id
        let created = UTCTimestamp.iso8601(milliseconds: session.creationTime)
        let info = SessionInfo(sessionId: id.description, servedBy: route, node: id.nodeID, visits: visits, created: created)
        if acceptsJSON {
            return DemoReply(status: 200, contentType: "application/json; charset=utf-8", body: info.json)
        }
        let failover = id.nodeID.map { nodes.isFailoverNode(id: $0) } ?? false
        let html = """
            <!doctype html>
            <html><head><meta charset="utf-8"><title>msm demo</title>
            <style>body{font-family:sans-serif;margin:2em}td{padding:.2em 1em}code{font-size:1.1em}</style></head>
            <body><h1>msm demo: distributed sessions</h1>
            <table>
            <tr><td>Session id</td><td><code>\(escape(info.sessionId))</code></td></tr>
            <tr><td>Served by app server</td><td><b>\(escape(route ?? "-"))</b></td></tr>
            <tr><td>Session stored on node</td><td><b>\(escape(info.node ?? "-"))</b>\(failover ? " (failover node)" : "")</td></tr>
            <tr><td>Created</td><td>\(escape(created))</td></tr>
            <tr><td>Visits</td><td><b>\(visits)</b></td></tr>
            </table>
            <p>Reload to count visits; the load balancer alternates app servers, the session follows.</p>
            </body></html>
            """
        return DemoReply(status: 200, contentType: "text/html; charset=utf-8", body: html)
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// ISO 8601 UTC timestamps without Foundation's formatter, which costs microseconds per call.
enum UTCTimestamp {
    /// `2026-11-25T14:15:02Z` for milliseconds since the Unix epoch (Howard Hinnant's civil_from_days).
    static func iso8601(milliseconds: Int64) -> String {
        let seconds = milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthPrime = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
        let month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day))T\(two(secondOfDay / 3600)):\(two(secondOfDay % 3600 / 60)):\(two(secondOfDay % 60))Z"
    }
}
