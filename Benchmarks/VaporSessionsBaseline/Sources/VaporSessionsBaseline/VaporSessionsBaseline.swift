import Fluent
import FluentPostgresDriver
import MemcachedSessionStore
import RedisSessionStore
import SessionManager
import Vapor
import VaporSessionManager

/// The demo's counter page (`GET /myapp/`, `GET /myapp/attributes/:name`, `GET /health`) behind
/// Vapor's stock `SessionsMiddleware`, with one of three drivers:
///
///     VaporSessionsBaseline --port 8081 --sessions memory
///     VaporSessionsBaseline --port 8081 --sessions fluent --postgres-url postgres://bench@127.0.0.1:5433/postgres
///     VaporSessionsBaseline --port 8081 --sessions distributed --store memcached --nodes m1:127.0.0.1:11211,m2:127.0.0.1:11212 --failover-nodes m1
///
/// The JSON has the demo's shape, so the benchmark sends and checks the same requests as for
/// `msm serve`. The Fluent mode creates its table (`_fluent_sessions`) at start.
@main
enum VaporSessionsBaseline {
    enum Driver: String {
        case memory
        case fluent
        case distributed
    }

    enum Store: String {
        case memcached
        case redis
    }

    struct Options {
        var port = 8080
        var driver = Driver.memory
        var postgresURL: String?
        var store = Store.memcached
        var nodes: String?
        var failoverNodes = ""

        init(arguments: [String]) throws(UsageError) {
            var remaining = arguments.dropFirst()
            while let flag = remaining.popFirst() {
                guard let value = remaining.popFirst() else { throw UsageError("\(flag) needs a value") }
                switch flag {
                case "--port":
                    guard let port = Int(value), (1...65535).contains(port) else { throw UsageError("--port \(value): not a port") }
                    self.port = port
                case "--sessions":
                    guard let driver = Driver(rawValue: value) else { throw UsageError("--sessions \(value): memory, fluent or distributed") }
                    self.driver = driver
                case "--postgres-url": self.postgresURL = value
                case "--store":
                    guard let store = Store(rawValue: value) else { throw UsageError("--store \(value): memcached or redis") }
                    self.store = store
                case "--nodes": self.nodes = value
                case "--failover-nodes": self.failoverNodes = value
                default: throw UsageError("unknown option \(flag)")
                }
            }
            if self.driver == .fluent && self.postgresURL == nil { throw UsageError("--sessions fluent needs --postgres-url") }
            if self.driver == .distributed && self.nodes == nil { throw UsageError("--sessions distributed needs --nodes") }
        }
    }

    struct UsageError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func main() async throws {
        let options: Options
        do {
            options = try Options(arguments: CommandLine.arguments)
        } catch {
            FileHandle.standardError.write(Data("VaporSessionsBaseline: \(error)\n".utf8))
            exit(2)
        }
        let arguments = ["VaporSessionsBaseline", "serve", "--hostname", "127.0.0.1", "--port", String(options.port)]
        let app = try await Application.make(Environment(name: "production", arguments: arguments))
        app.logger.logLevel = .warning
        switch options.driver {
        case .memory:
            app.sessions.use(.memory)
        case .fluent:
            try app.databases.use(.postgres(url: options.postgresURL ?? ""), as: .psql)
            app.sessions.use(.fluent)
            app.migrations.add(SessionRecord.migration)
            try await app.autoMigrate()
        case .distributed:
            let nodes = options.nodes ?? ""
            let store: any SessionStore =
                switch options.store {
                case .memcached: try MemcachedSessionStore(nodes: nodes, failoverNodes: options.failoverNodes)
                case .redis: try RedisSessionStore(nodes: nodes, failoverNodes: options.failoverNodes)
                }
            app.sessions.use(.distributed(try SessionManager(configuration: SessionManagerConfiguration(), store: store)))
        }
        app.middleware.use(app.sessions.middleware)
        routes(app)
        do {
            try await app.execute()
        } catch {
            app.logger.error("\(error)")
        }
        try await app.asyncShutdown()
    }

    static func routes(_ app: Application) {
        app.get("health") { _ in "ok" }
        app.get("myapp") { request -> Response in
            let visits = (request.session.data["visits"].flatMap { Int($0) } ?? 0) + 1
            request.session.data["visits"] = String(visits)
            let id = request.session.id.map { "\"\($0.string)\"" } ?? "null"
            let body = #"{"sessionId":\#(id),"servedBy":"A","node":null,"visits":\#(visits),"created":null}"#
            return Response(status: .ok, headers: ["Content-Type": "application/json"], body: .init(string: body))
        }
        app.get("myapp", "attributes", ":name") { request -> Response in
            guard let name = request.parameters.get("name"), let value = request.session.data[name] else {
                return Response(status: .notFound, body: .init(string: "no attribute"))
            }
            return Response(status: .ok, headers: ["Content-Type": "text/plain; charset=utf-8"], body: .init(string: value))
        }
    }
}
