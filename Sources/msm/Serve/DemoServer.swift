import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdSessionManager
import Logging
import MemcachedClient
import MemcachedSessionStore
import Metrics
import NIOSSL
import Prometheus
import RedisClient
import RedisSessionStore
import ServiceLifecycle
import SessionManager

/// The demo application of DESIGN.md: what the seed's test page showed, plus attribute, login
/// and logout routes, static files under the ignore pattern, health and metrics.
struct DemoServer {
    let settings: ServeSettings

    func run() async throws {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "msm")
        logger.logLevel = settings.logLevel

        let store = try makeStore(logger: logger)
        let manager: SessionManager
        do {
            manager = try SessionManager(configuration: settings.session, store: store, logger: logger)
        } catch {
            throw ValidationError("\(error)")
        }

        let router = Router(context: BasicDistributedSessionRequestContext.self)
        router.get("/health") { _, _ in "ok\n" }
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let app = DemoRoutes(route: settings.session.route, nodes: settings.nodes)
        app.register(on: router.group("myapp").add(middleware: DistributedSessionMiddleware(manager: manager)))

        let application = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "msm"),
            services: [manager],  // it owns the store: its pending writes first, then the connections

            logger: logger
        )
        logger.notice(
            "msm serve listening",
            metadata: [
                "address": "\(settings.host):\(settings.port)", "route": "\(settings.session.route ?? "-")",
                "store": "\(settings.nodes.backend)",
                "nodes": "\(settings.nodes.descriptions.joined(separator: ","))",  // Redis passwords as ***
                "failover": "\(settings.nodes.failoverNodeIDs.joined(separator: ","))",
                "mode": "\(settings.session.sticky ? "sticky" : "non-sticky, locking \(settings.session.lockingMode)")",
            ])
        try await application.runService()
    }

    /// The store of the configured backend, for the manager to own. Both backends get the same
    /// timeouts and a 1 s reconnect cap, so the demo notices a returning node within a second.
    private func makeStore(logger: Logger) throws -> any SessionStore {
        switch settings.nodes {
        case .memcached(let nodeList):
            var configuration = MemcachedClientConfiguration()
            configuration.operationTimeout = settings.operationTimeout
            configuration.connectTimeout = settings.operationTimeout
            configuration.maximumReconnectDelay = .seconds(1)
            return try MemcachedSessionStore(nodeList: nodeList, configuration: configuration, logger: logger)
        case .redis(let nodeList):
            var configuration = RedisClientConfiguration()
            configuration.operationTimeout = settings.operationTimeout
            configuration.connectTimeout = settings.operationTimeout
            configuration.maximumReconnectDelay = .seconds(1)
            if let authority = settings.redisTLSAuthorityFile {
                configuration.tlsConfiguration.trustRoots = .file(authority)
            }
            return try RedisSessionStore(nodeList: nodeList, configuration: configuration, logger: logger)
        }
    }
}

/// The `/myapp` routes.
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

    func register(on group: RouterGroup<BasicDistributedSessionRequestContext>) {
        group.get("/") { request, context in
            let session = try await context.sessions.session()
            let visits = (try session.attribute("visits", as: Int.self) ?? 0) + 1
            try session.setAttribute("visits", visits)
            try await context.sessions.persist()  // the page shows the node the session is stored on
            return try page(for: session, visits: visits, request: request, context: context)
        }
        group.put("/attributes/:name") { request, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            let body = try await request.body.collect(upTo: 64 * 1024)
            try await context.sessions.session().setAttribute(name, String(buffer: body))
            return .noContent
        }
        group.get("/attributes/:name") { _, context -> Response in
            let name = try context.parameters.require("name")
            guard let session = try await context.sessions.existingSession(), let raw = session.rawAttribute(name) else {
                throw HTTPError(.notFound, message: "no attribute \(name)")
            }
            // Attributes set here are JSON strings; others (visits) are shown as their JSON text.
            let isString = raw.first == UInt8(ascii: "\"")
            let text = (isString ? try? session.attribute(name, as: String.self) : nil) ?? String(decoding: raw, as: UTF8.self)
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        group.delete("/attributes/:name") { _, context -> HTTPResponse.Status in
            let name = try context.parameters.require("name")
            try await context.sessions.existingSession()?.removeAttribute(name)
            return .noContent
        }
        group.post("/login") { request, context in
            guard let user = request.uri.queryParameters.get("user"), !user.isEmpty else {
                throw HTTPError(.badRequest, message: "login needs ?user=NAME")
            }
            let session = try await context.sessions.session()
            try await context.sessions.changeSessionID()  // session fixation protection
            try session.setAttribute("user", user)
            try await context.sessions.persist()
            return try page(for: session, visits: try session.attribute("visits", as: Int.self) ?? 0, request: request, context: context)
        }
        group.post("/logout") { _, context -> Response in
            try await context.sessions.invalidate()
            return Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "logged out\n")))
        }
        group.get("/static/:file") { _, context -> Response in
            let file = try context.parameters.require("file")
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(string: "static \(file)\n")))
        }
    }

    private func page(for session: Session, visits: Int, request: Request, context: BasicDistributedSessionRequestContext) throws -> Response {
        let id = session.id
        let created = UTCTimestamp.iso8601(milliseconds: session.creationTime)
        let info = SessionInfo(sessionId: id.description, servedBy: route, node: id.nodeID, visits: visits, created: created)
        if request.headers[.accept]?.contains("application/json") == true {
            return Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: info.json)))
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
        return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: html)))
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
