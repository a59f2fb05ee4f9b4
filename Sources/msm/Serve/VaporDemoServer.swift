import Logging
import Prometheus
import SessionManager
import Vapor
import VaporSessionManager

/// The demo app on Vapor: the same routes, JSON, cookies and flags as on Hummingbird, so one
/// cluster can run both frameworks behind one nginx and share its sessions.
struct VaporDemoServer {
    let settings: ServeSettings

    func run(routes: DemoRoutes, manager: SessionManager, registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        // Vapor would read msm's own command line as its commands; it gets a `serve` of its own.
        let environment = Environment(name: "production", arguments: ["msm", "serve"])
        let app = try await Application.make(environment, .singleton, logger: logger)
        app.http.server.configuration.hostname = settings.host
        app.http.server.configuration.port = settings.port
        app.http.server.configuration.serverName = "msm"
        // Errors as responses, and no per-request log line (Hummingbird logs none either).
        app.middleware = Middlewares()
        app.middleware.use(ErrorMiddleware.default(environment: app.environment))

        app.get("health") { _ in "ok\n" }
        app.get("metrics") { _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: ["Content-Type": "text/plain; version=0.0.4"], body: .init(buffer: ByteBuffer(bytes: buffer)))
        }
        app.distributedSessions.manageLifecycle(of: manager)
        let myapp = app.grouped("myapp").grouped(DistributedSessionsMiddleware(manager: manager))
        myapp.get { req in try await routes.visit(req.distributedSession, acceptsJSON: req.acceptsJSON).vaporResponse }
        myapp.on(.PUT, "attributes", ":name", body: .collect(maxSize: "64kb")) { req in
            let value = req.body.string ?? ""
            return try await routes.setAttribute(req.distributedSession, name: req.parameters.get("name") ?? "", value: value).vaporResponse
        }
        myapp.get("attributes", ":name") { req in
            try await routes.attribute(req.distributedSession, name: req.parameters.get("name") ?? "").vaporResponse
        }
        myapp.delete("attributes", ":name") { req in
            try await routes.removeAttribute(req.distributedSession, name: req.parameters.get("name") ?? "").vaporResponse
        }
        myapp.post("login") { req in
            try await routes.login(req.distributedSession, user: req.query[String.self, at: "user"], acceptsJSON: req.acceptsJSON).vaporResponse
        }
        myapp.post("logout") { req in try await routes.logout(req.distributedSession).vaporResponse }
        myapp.get("static", ":file") { req in routes.staticFile(req.parameters.get("file") ?? "").vaporResponse }

        do {
            try await app.execute()
        } catch {
            try? await app.asyncShutdown()
            throw error
        }
        try await app.asyncShutdown()
    }
}

extension DistributedSessionAccess: DemoSessions {}

extension Request {
    var acceptsJSON: Bool { headers.first(name: .accept)?.contains("application/json") == true }
}

extension DemoReply {
    var vaporResponse: Response {
        Response(status: .init(statusCode: status), headers: ["Content-Type": contentType], body: .init(string: body))
    }
}
