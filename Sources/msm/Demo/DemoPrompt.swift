import ArgumentParser
import Foundation
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// What `msm demo` says and the commands it takes while it runs.
extension DemoCluster {
    func printWalkthrough() {
        let pid = { (name: String) in self.processes[name]?.pid.map(String.init) ?? "-" }
        let (failover, active) = (nodeIDs[0], nodeIDs[1])
        let label = { (id: String) in "\(self.store.rawValue) \(id)".padding(toLength: 21, withPad: " ", startingAt: 0) }
        say(
            """
            msm demo: ready at http://127.0.0.1:\(nginxPort)/myapp/

              nginx (round robin)  http://127.0.0.1:\(nginxPort)/myapp/   pid \(pid("nginx"))
              app server A         http://127.0.0.1:\(appPorts[0])/myapp/   pid \(pid("A"))   \(frameworks[0].rawValue)
              app server B         http://127.0.0.1:\(appPorts[1])/myapp/   pid \(pid("B"))   \(frameworks[1].rawValue)
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
}

/// Writes a line to standard output at once, unbuffered: stdout may be a pipe, and C stdio's
/// flush would have to take the lock a blocked `readLine` holds on stdin.
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}
