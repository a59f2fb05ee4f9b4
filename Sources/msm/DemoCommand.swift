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

    func run() async throws {
        let appPorts = try Self.ports(appPorts, "--app-ports")
        let storePorts = store == .redis
            ? try Self.ports(redisPorts, "--redis-ports") : try Self.ports(memcachedPorts, "--memcached-ports")
        let cluster = try DemoCluster(
            nginxPort: port, appPorts: appPorts, store: store, storePorts: storePorts,
            sticky: mode != .nonSticky, lockingMode: lockingMode
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

/// The processes of the demo and how to drive them.
final class DemoCluster: Sendable {
    private let nginxPort: Int
    private let appPorts: [Int]
    private let store: DemoCommand.Store
    private let storePorts: [Int]
    /// The store nodes' ids, failover node first: m1, m2 or r1, r2.
    private let nodeIDs: [String]
    private let directory: URL
    private let processes: [String: ManagedProcess]
    private let order: [String]
    /// Processes stopped on purpose, whose exit is no news.
    private let stopping = Mutex<Set<String>>([])

    init(nginxPort: Int, appPorts: [Int], store: DemoCommand.Store, storePorts: [Int], sticky: Bool, lockingMode: String?) throws {
        self.nginxPort = nginxPort
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
            throw ValidationError("port \(port) (for \(role)) is already in use on 127.0.0.1; pick others with --port, --app-ports, --\(storeName)-ports")
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
        let nodes = store == .redis
            ? "r1:redis://127.0.0.1:\(storePorts[0]),r2:redis://127.0.0.1:\(storePorts[1])"
            : "m1:127.0.0.1:\(storePorts[0]),m2:127.0.0.1:\(storePorts[1])"
        for (index, route) in ["A", "B"].enumerated() {
            var arguments = [
                "serve", "--host", "127.0.0.1", "--port", "\(appPorts[index])", "--route", route,
                "--memcached-nodes", nodes, "--failover-nodes", nodeIDs[0], sticky ? "--sticky" : "--non-sticky",
            ]
            if let lockingMode { arguments += ["--locking-mode", lockingMode] }
            processes[route] = ManagedProcess(
                name: route, executable: me, arguments: arguments,
                logFile: directory.appendingPathComponent("app-\(route).log")
            )
        }
        let configuration = directory.appendingPathComponent("nginx.conf")
        try Self.nginxConfiguration(port: nginxPort, appPorts: appPorts, directory: directory).write(to: configuration, atomically: true, encoding: .utf8)
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

    private func start(_ name: String) async throws {
        guard let process = processes[name] else { return }
        try process.start()
        let ready: () -> Bool
        switch name {
        case nodeIDs[0], nodeIDs[1]:
            let port = storePorts[name == nodeIDs[0] ? 0 : 1]
            ready = store == .redis
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

    func printWalkthrough() {
        let pid = { (name: String) in self.processes[name]?.pid.map(String.init) ?? "-" }
        let (failover, active) = (nodeIDs[0], nodeIDs[1])
        let label = { (id: String) in "\(self.store.rawValue) \(id)".padding(toLength: 21, withPad: " ", startingAt: 0) }
        say("""
            msm demo: ready at http://127.0.0.1:\(nginxPort)/myapp/

              nginx (round robin)  http://127.0.0.1:\(nginxPort)/myapp/   pid \(pid("nginx"))
              app server A         http://127.0.0.1:\(appPorts[0])/myapp/   pid \(pid("A"))
              app server B         http://127.0.0.1:\(appPorts[1])/myapp/   pid \(pid("B"))
              \(label(failover))127.0.0.1:\(storePorts[0])  failover node   pid \(pid(failover))
              \(label(active))127.0.0.1:\(storePorts[1])  active node     pid \(pid(active))
              logs                 \(directory.path)

            The seed's walkthrough (open the URL in a browser, or curl -c jar -b jar):
              1. First visit: a new session id like 602F...E178-\(active).A (node \(active), served by A), Set-Cookie.
              2-4. Reload: nginx alternates A and B; the id stays, its route suffix follows the server
                 (Set-Cookie each switch), and the visit count never goes back.
              5. Type `stop \(active)`: the page keeps working; the id's node part becomes \(failover).
              6. A new browser (or private window) gets a session on \(failover).
              7. The old session keeps its visits on \(failover).
              8. Type `start \(active)`: sessions move back to \(active) on their next request.
            Also: `stop A` (nginx sends everyone to B, sessions intact), `status`, `help`, Ctrl-C to quit.
            """)
            }

    /// Runs commands from standard input until Ctrl-C, SIGTERM or `quit`.
    func serveUntilStopped() async {
        let commands = AsyncStream<String> { continuation in
            let reader = Thread {
                while let line = readLine() { continuation.yield(line) }
                continuation.finish()
            }
            reader.start()
        }
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await signal in signals {
                    say("\nmsm demo: \(signal), stopping")
                    return
                }
            }
            group.addTask {
                await self.watchForUnexpectedExits()
            }
            group.addTask {
                for await line in commands {
                    if await !self.execute(line.trimmingCharacters(in: .whitespaces)) { return }
                }
                // Standard input closed (no terminal): keep running until a signal.
                try? await Task.sleep(for: .seconds(365 * 24 * 3600))
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Says so when a child dies without being told to (checked twice a second).
    private func watchForUnexpectedExits() async {
        var running = Set(order)
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(500))
            let alive = Set(order.filter { processes[$0]?.pid != nil })
            for name in running.subtracting(alive) where !stopping.withLock({ $0.contains(name) }) {
                say("msm demo: \(name) exited unexpectedly; its log: \(processes[name]?.logFile.path ?? "-"); `start \(name)` restarts it")
            }
            running = alive
        }
    }

    /// Returns false to quit.
    private func execute(_ line: String) async -> Bool {
        let words = line.split(separator: " ").map(String.init)
        switch (words.first ?? "", words.count) {
        case ("", _): break
        case ("quit", _), ("exit", _): return false
        case ("status", _):
            for name in order { say("  \(name): \(processes[name]?.pid.map { "running, pid \($0)" } ?? "stopped")") }
        case ("stop", 2) where processes[words[1]] != nil:
            stopping.withLock { _ = $0.insert(words[1]) }
            await processes[words[1]]!.stop()
            say("msm demo: stopped \(words[1])")
        case ("start", 2) where processes[words[1]] != nil:
            do {
                stopping.withLock { _ = $0.remove(words[1]) }
                try await start(words[1])
                say("msm demo: started \(words[1]) (pid \(processes[words[1]]?.pid.map(String.init) ?? "?"))")
            } catch {
                say("msm demo: \(error)")
            }
        default:
            say("commands: stop NAME, start NAME (NAME: \(order.joined(separator: ", "))), status, quit")
        }
                return true
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

    private static func nginxConfiguration(port: Int, appPorts: [Int], directory: URL) -> String {
        let path = directory.path
        return """
            \(geteuid() == 0 ? "user root;" : "")
            worker_processes 1;
            daemon off;
            pid \(path)/nginx.pid;
            error_log \(path)/nginx-error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path \(path)/client_body;
                proxy_temp_path \(path)/proxy;
                fastcgi_temp_path \(path)/fastcgi;
                uwsgi_temp_path \(path)/uwsgi;
                scgi_temp_path \(path)/scgi;
                upstream msm_app_servers {
                    server 127.0.0.1:\(appPorts[0]) max_fails=1 fail_timeout=2s;
                    server 127.0.0.1:\(appPorts[1]) max_fails=1 fail_timeout=2s;
                    keepalive 32;
                }
                server {
                    listen 127.0.0.1:\(port);
                    location / {
                        proxy_pass http://msm_app_servers;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $host;
                        proxy_next_upstream error timeout http_502 http_503;
                        proxy_connect_timeout 1s;
                    }
                }
            }

            """
    }
}

/// Writes a line to standard output at once, unbuffered: stdout may be a pipe, and C stdio's
/// flush would have to take the lock a blocked `readLine` holds on stdin.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
