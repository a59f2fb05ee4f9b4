import ArgumentParser

/// `msm nginx-config`: prints the nginx configuration `msm demo` runs, for other tools that put
/// nginx in front of `msm serve` (the HTTP benchmark does).
struct NginxConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nginx-config",
        abstract: "Print the nginx configuration msm demo uses: round robin over app servers on 127.0.0.1."
    )

    @Option(help: "nginx port.")
    var port: Int

    @Option(help: "Ports of the app servers, comma separated.")
    var appPorts: String

    @Option(help: "Folder for nginx's pid file, logs and temp files.")
    var directory: String

    @Option(help: "Idle upstream connections kept open (at least one per concurrent client).")
    var keepalive = 32

    func run() throws {
        let pieces = appPorts.split(separator: ",", omittingEmptySubsequences: false)
        let ports = pieces.compactMap { Int($0) }
        guard !appPorts.isEmpty, ports.count == pieces.count, ports.allSatisfy({ (1...65535).contains($0) }) else {
            throw ValidationError("--app-ports takes ports in 1...65535, comma separated, e.g. 8081,8082")
        }
        guard (1...65535).contains(port) else { throw ValidationError("--port takes a port in 1...65535") }
        guard keepalive > 0 else { throw ValidationError("--keepalive must be positive") }
        print(NginxConfiguration(listenPort: port, upstreamPorts: ports, directory: directory, keepalive: keepalive).text, terminator: "")
    }
}
