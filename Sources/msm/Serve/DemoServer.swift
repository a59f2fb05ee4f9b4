import ArgumentParser
import Hummingbird
import HummingbirdSessionManager
import Logging
import MemcachedClient
import MemcachedSessionStore
import MemcachedTLS
import Metrics
import NIOSSL
import Prometheus
import RedisClient
import RedisSessionStore
import SessionManager

/// The demo application of DESIGN.md: what the seed's test page showed, plus attribute, login
/// and logout routes, static files under the ignore pattern, health and metrics.
struct DemoServer {
    let settings: ServeSettings
    /// The event loops NIO's shared group runs (``EventLoopCount``), for the startup log.
    var eventLoops: Int

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

        logger.notice(
            "msm serve listening",
            metadata: [
                "address": "\(settings.host):\(settings.port)", "route": "\(settings.session.route ?? "-")",
                "framework": "\(settings.framework.rawValue)",
                "store": "\(settings.nodes.backend)",
                "nodes": "\(settings.nodes.descriptions.joined(separator: ","))",  // Redis passwords as ***
                "failover": "\(settings.nodes.failoverNodeIDs.joined(separator: ","))",
                "mode": "\(settings.session.sticky ? "sticky" : "non-sticky, locking \(settings.session.lockingMode)")",
                "event-loops": "\(eventLoops)",
                "encryption": "\(settings.session.encryption.map { "\($0)" } ?? "off")",  // key ids only
            ])
        for warning in settings.startupWarnings {
            logger.warning("\(warning)")
        }
        let routes = DemoRoutes(route: settings.session.route, nodes: settings.nodes)
        switch settings.framework {
        case .hummingbird:
            try await runHummingbird(routes: routes, manager: manager, registry: registry, logger: logger)
        case .vapor:
            try await VaporDemoServer(settings: settings).run(routes: routes, manager: manager, registry: registry, logger: logger)
        }
    }

    private func runHummingbird(routes: DemoRoutes, manager: SessionManager, registry: PrometheusCollectorRegistry, logger: Logger) async throws {
        let router = Router(context: BasicDistributedSessionRequestContext.self)
        router.get("/health") { _, _ in "ok\n" }
        router.get("/metrics") { _, _ -> Response in
            var buffer: [UInt8] = []
            registry.emit(into: &buffer)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"], body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        routes.register(on: router.group("myapp").add(middleware: DistributedSessionMiddleware(manager: manager)))

        let application = Application(
            router: router,
            configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "msm"),
            services: [manager],  // it owns the store: its pending writes first, then the connections
            logger: logger
        )
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
            configuration.credentials = settings.memcachedCredentials
            if let tls = settings.memcachedTLS { try configuration.useTLS(tls) }
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

/// The demo's routes on Hummingbird.
extension DemoRoutes {
    func register(on group: RouterGroup<BasicDistributedSessionRequestContext>) {
        group.get("/") { request, context in
            try await visit(context.sessions, acceptsJSON: request.acceptsJSON).hummingbirdResponse
        }
        group.put("/attributes/:name") { request, context in
            let body = try await request.body.collect(upTo: 64 * 1024)
            return try await setAttribute(context.sessions, name: try context.parameters.require("name"), value: String(buffer: body))
                .hummingbirdResponse
        }
        group.get("/attributes/:name") { _, context in
            try await attribute(context.sessions, name: try context.parameters.require("name")).hummingbirdResponse
        }
        group.delete("/attributes/:name") { _, context in
            try await removeAttribute(context.sessions, name: try context.parameters.require("name")).hummingbirdResponse
        }
        group.post("/login") { request, context in
            try await login(context.sessions, user: request.uri.queryParameters.get("user"), acceptsJSON: request.acceptsJSON).hummingbirdResponse
        }
        group.post("/logout") { _, context in
            try await logout(context.sessions).hummingbirdResponse
        }
        group.get("/static/:file") { _, context in
            staticFile(try context.parameters.require("file")).hummingbirdResponse
        }
    }
}

extension DistributedSessionContext: DemoSessions {}

extension Request {
    var acceptsJSON: Bool { headers[.accept]?.contains("application/json") == true }
}

extension DemoReply {
    var hummingbirdResponse: Response {
        Response(
            status: .init(code: status), headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
