import ArgumentParser
import Foundation
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// `msm demo`: the seed's topology on loopback in one command.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the seed's cluster on loopback: memcached m1 and m2 (or Redis r1 and r2), app servers A and B, nginx round robin.",
        discussion: """
            Sessions are written to m2 with m1 as their backup (m1 is the failover node); with \
            `--store redis`, to r2 with r1 as backup. While it runs, type `stop m2` / `start m2` \
            (or m1, A, B, nginx; r1, r2 on Redis) to fail and restore a process, `status` to list \
            them. Ctrl-C (or SIGTERM) stops everything it started.
            """
    )

    /// Which session store the demo's nodes run.
    enum Store: String, ExpressibleByArgument, CaseIterable {
        case memcached, redis
    }

    @Option(help: "nginx port: the URL to open.")
    var port = 8080

    @Option(help: "Ports of app servers A and B.")
    var appPorts = "8081,8082"

    @Option(help: "Session store: memcached (nodes m1, m2) or redis (nodes r1, r2).")
    var store: Store = .memcached

    @Option(help: "Ports of memcached m1 and m2.")
    var memcachedPorts = "11211,11212"

    // Not 6379: Debian's redis-server package starts a system Redis there, and a developer's
    // own Redis must not receive the demo's sessions or be stopped by `stop r1`.
    @Option(help: "Ports of Redis r1 and r2 (with --store redis); not 6379, so a Redis of your own keeps running undisturbed.")
    var redisPorts = "16379,16380"

    @Flag(help: nil)
    var mode: ServeCommand.Mode?

    @Option(help: "Locking mode of the app servers (non-sticky only): none | all | auto | uriPattern:<regex>.")
    var lockingMode: String?

    @Option(
        help:
            "Web frameworks of app servers A and B: hummingbird or vapor each, e.g. hummingbird,vapor (one cluster, two frameworks, shared sessions)."
    )
    var frameworks = "hummingbird,hummingbird"

    func run() async throws {
        let appPorts = try Self.ports(appPorts, "--app-ports")
        let storePorts =
            store == .redis
            ? try Self.ports(redisPorts, "--redis-ports") : try Self.ports(memcachedPorts, "--memcached-ports")
        let frameworks = frameworks.split(separator: ",").map { ServeSettings.Framework(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
        guard frameworks.count == 2, let a = frameworks[0], let b = frameworks[1] else {
            throw ValidationError("--frameworks takes two of hummingbird and vapor, e.g. hummingbird,vapor")
        }
        let cluster = try DemoCluster(
            nginxPort: port, appPorts: appPorts, store: store, storePorts: storePorts,
            sticky: mode != .nonSticky, lockingMode: lockingMode, frameworks: [a, b]
        )
        do {
            try await cluster.start()
        } catch {
            await cluster.stopAll()
            throw error
        }
        cluster.printWalkthrough()
        await cluster.serveUntilStopped()
        await cluster.stopAll()
        say("msm demo: stopped everything it started.")
    }

    private static func ports(_ text: String, _ flag: String) throws -> [Int] {
        let ports = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard ports.count == 2, ports.allSatisfy({ (1...65535).contains($0) }), ports[0] != ports[1] else {
            throw ValidationError("\(flag) takes two different ports, e.g. 8081,8082")
        }
        return ports
    }
}
