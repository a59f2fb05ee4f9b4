import ArgumentParser
import Foundation
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The processes of the demo and how to drive them.
final class DemoCluster: Sendable {
    let nginxPort: Int
    let appPorts: [Int]
    let store: DemoCommand.Store
    let storePorts: [Int]
    /// The store nodes' ids, failover node first: m1, m2 or r1, r2.
    let nodeIDs: [String]
    let directory: URL
    let processes: [String: ManagedProcess]
    let order: [String]
    /// Processes stopped on purpose, whose exit is no news.
    let stopping = Mutex<Set<String>>([])

    /// The web framework of app servers A and B.
    let frameworks: [ServeSettings.Framework]

    init(
        nginxPort: Int, appPorts: [Int], store: DemoCommand.Store, storePorts: [Int], sticky: Bool, lockingMode: String?,
        frameworks: [ServeSettings.Framework] = [.hummingbird, .hummingbird]
    ) throws {
        self.nginxPort = nginxPort
        self.frameworks = frameworks
        self.appPorts = appPorts
        self.store = store
        self.storePorts = storePorts
        nodeIDs = store == .redis ? ["r1", "r2"] : ["m1", "m2"]
        order = nodeIDs + ["A", "B", "nginx"]
        let storeName = store.rawValue
        let all = [
            (nginxPort, "nginx"), (appPorts[0], "app server A"), (appPorts[1], "app server B"),
            (storePorts[0], "\(storeName) \(nodeIDs[0])"), (storePorts[1], "\(storeName) \(nodeIDs[1])"),
        ]
        guard Set(all.map(\.0)).count == all.count else { throw ValidationError("the five ports must all differ") }
        for (port, role) in all where !LoopbackProbe.isFree(port: port) {
            throw ValidationError(
                "port \(port) (for \(role)) is already in use on 127.0.0.1; pick others with --port, --app-ports, --\(storeName)-ports")
        }

        let server = store == .redis ? try Self.find("redis-server", package: "redis-server") : try Self.find("memcached", package: "memcached")
        let nginx = try Self.find("nginx", package: "nginx")
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("msm-demo-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        var processes: [String: ManagedProcess] = [:]
        for (index, id) in nodeIDs.enumerated() {
            processes[id] = ManagedProcess(
                name: id, executable: server,
                arguments: Self.storeArguments(store, port: storePorts[index], directory: directory),
                logFile: directory.appendingPathComponent("\(id).log")
            )
        }
        let nodes =
            store == .redis
            ? "r1:redis://127.0.0.1:\(storePorts[0]),r2:redis://127.0.0.1:\(storePorts[1])"
            : "m1:127.0.0.1:\(storePorts[0]),m2:127.0.0.1:\(storePorts[1])"
        for (index, route) in ["A", "B"].enumerated() {
            var arguments = [
                "serve", "--host", "127.0.0.1", "--port", "\(appPorts[index])", "--route", route,
                "--memcached-nodes", nodes, "--failover-nodes", nodeIDs[0], sticky ? "--sticky" : "--non-sticky",
            ]
            if let lockingMode { arguments += ["--locking-mode", lockingMode] }
            arguments += ["--framework", frameworks[index].rawValue]
            processes[route] = ManagedProcess(
                name: route, executable: me, arguments: arguments,
                logFile: directory.appendingPathComponent("app-\(route).log")
            )
        }
        let configuration = directory.appendingPathComponent("nginx.conf")
        try NginxConfiguration(listenPort: nginxPort, upstreamPorts: appPorts, directory: directory.path).text
            .write(to: configuration, atomically: true, encoding: .utf8)
        processes["nginx"] = ManagedProcess(
            name: "nginx", executable: nginx,
            arguments: ["-p", directory.path, "-c", configuration.path, "-e", directory.appendingPathComponent("nginx-error.log").path],
            logFile: directory.appendingPathComponent("nginx.log")
        )
        self.processes = processes
    }

    /// The store's command line: loopback only, nothing persisted (a restarted node comes back
    /// empty, like a restarted memcached, which is what the walkthrough's step 8 shows).
    private static func storeArguments(_ store: DemoCommand.Store, port: Int, directory: URL) -> [String] {
        switch store {
        case .memcached:
            return ["-l", "127.0.0.1", "-p", "\(port)", "-U", "0", "-m", "64"] + (geteuid() == 0 ? ["-u", "root"] : [])
        case .redis:
            // 64 MB evicting least recently used keys: what memcached -m 64 does.
            return [
                "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--logfile", "", "--dir", directory.path,
                "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru",
            ]
        }
    }

    func start() async throws {
        for name in order { try await start(name) }
    }

    func start(_ name: String) async throws {
        guard let process = processes[name] else { return }
        try process.start()
        let ready: () -> Bool
        switch name {
        case nodeIDs[0], nodeIDs[1]:
            let port = storePorts[name == nodeIDs[0] ? 0 : 1]
            ready =
                store == .redis
                ? { LoopbackProbe.ask(port: port, "PING\r\n") == "+PONG" }
                : { LoopbackProbe.ask(port: port, "version\r\n")?.hasPrefix("VERSION") == true }
        case "A", "B":
            let port = appPorts[name == "A" ? 0 : 1]
            ready = { LoopbackProbe.httpStatus(port: port, path: "/health") == 200 }
        default:
            let port = nginxPort
            ready = { LoopbackProbe.httpStatus(port: port, path: "/health") == 200 }
        }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(15)
        while !ready() {
            guard process.pid != nil, clock.now < deadline else {
                throw ValidationError("\(name) did not come up; its log (\(process.logFile.path)):\n\(process.logTail())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    func stopAll() async {
        stopping.withLock { $0 = Set(order) }
        for name in order.reversed() { await processes[name]?.stop() }
        try? FileManager.default.removeItem(at: directory)
    }

    private static func find(_ name: String, package: String) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw ValidationError("\(name) not found: `make demo` installs it, or run `apt-get install \(package)`")
    }
}
