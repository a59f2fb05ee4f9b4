import Foundation
import MemcachedClient
import ServerTestSupport
import NIOCore

/// Our client against memcaslap (libmemcached's C load generator), same server, same workload,
/// one run, side by side. See `make bench-client` and the README's performance section.
@main
struct MemcachedClientBenchmark {
    static func main() async throws {
        let options = try BenchmarkOptions(arguments: Array(CommandLine.arguments.dropFirst()))
        let server = try await MemcachedServerProcess.start(memoryMegabytes: 512, threads: options.serverThreads)
        defer { Task { await server.kill() } }
        if let cpu = options.serverCPU { try pin(pid: server.pid, toCPU: cpu) }
        let clientCPUNote = options.serverCPU.map { "memcached pinned to CPU \($0) (taskset)" } ?? "no CPU pinning"

        print("""
            workload: \(options.valueSize)-byte values, \(Int(options.getRatio * 100))% get / \(100 - Int(options.getRatio * 100))% set, \
            \(options.keyCount) keys, \(options.seconds) s per run, memcached \(options.serverThreads) thread(s) on \(server.endpoint), \(clientCPUNote)
            """)

        var rows: [(concurrency: Int, ours: RunResult, theirs: RunResult?)] = []
        for concurrency in options.concurrencies {
            progress("our client, concurrency \(concurrency)...")
            let ours = try await runOurClient(server: server, concurrency: concurrency, options: options)
            var theirs: RunResult?
            if options.runMemcaslap {
                progress("memcaslap, concurrency \(concurrency)...")
                theirs = try runMemcaslap(server: server, concurrency: concurrency, options: options)
            }
            rows.append((concurrency, ours, theirs))
        }
        printTable(rows)
        await server.kill()
    }

    // MARK: Our client

    static func runOurClient(server: MemcachedServerProcess, concurrency: Int, options: BenchmarkOptions) async throws -> RunResult {
        var configuration = MemcachedClientConfiguration()
        configuration.connectionsPerNode = options.connectionsPerNode
        let client = try MemcachedClient(
            nodeList: try MemcachedNodeList(parsing: server.endpoint),
            configuration: configuration
        )
        let node = try client.node(id: nil)
        let keys = try (0..<options.keyCount).map { try MemcachedKey("bench:\($0)") }
        let value = ByteBuffer(repeating: UInt8(ascii: "v"), count: options.valueSize)
        for key in keys { try await node.set(key, value: value) }

        let setEvery = options.getRatio >= 1 ? Int.max : max(1, Int((1 / (1 - options.getRatio)).rounded()))
        let deadline = NIODeadline.now() + .seconds(Int64(options.seconds))
        let startTime = NIODeadline.now()
        let latencies = try await withThrowingTaskGroup(of: [UInt32].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var latencies: [UInt32] = []
                    latencies.reserveCapacity(1 << 16)
                    var operation = worker
                    while NIODeadline.now() < deadline {
                        let key = keys[(operation &* 7919) % keys.count]
                        let started = NIODeadline.now()
                        if operation % setEvery == 0 {
                            try await node.set(key, value: value)
                        } else {
                            _ = try await node.get(key)
                        }
                        latencies.append(UInt32(clamping: (NIODeadline.now() - started).nanoseconds / 1000))
                        operation += concurrency
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: [UInt32]()) { $0.append(contentsOf: $1) }
        }
        let elapsed = Double((NIODeadline.now() - startTime).nanoseconds) / 1e9
        await client.shutdown()
        let sorted = latencies.sorted()
        return RunResult(
            operationsPerSecond: Double(sorted.count) / elapsed,
            p50: "\(percentile(sorted, 0.50))",
            p99: "\(percentile(sorted, 0.99))"
        )
    }

    static func percentile(_ sorted: [UInt32], _ fraction: Double) -> UInt32 {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
    }

    // MARK: memcaslap

    static func runMemcaslap(server: MemcachedServerProcess, concurrency: Int, options: BenchmarkOptions) throws -> RunResult {
        let configuration = FileManager.default.temporaryDirectory.appendingPathComponent("memcaslap-\(getpid()).cfg")
        try """
            key
            16 16 1
            value
            \(options.valueSize) \(options.valueSize) 1
            cmd
            0 \(1 - options.getRatio)
            1 \(options.getRatio)

            """.write(to: configuration, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: configuration) }

        var arguments = [
            "-s", server.endpoint, "-T", "1", "-c", "\(concurrency)", "-t", "\(options.seconds)s",
            "-S", "\(options.seconds)s", "-F", configuration.path,
        ]
        var executable = try findExecutable("memcaslap")
        if let cpu = options.clientCPU {
            arguments = ["-c", "\(cpu)", executable] + arguments
            executable = try findExecutable("taskset")
        }
        let output = try run(executable, arguments)
        return try MemcaslapReport(output: output).result
    }

    // MARK: Output

    static func printTable(_ rows: [(concurrency: Int, ours: RunResult, theirs: RunResult?)]) {
        let header = ["concurrency", "ours ops/s", "ours p50 µs", "ours p99 µs", "memcaslap ops/s", "memcaslap p50 µs", "memcaslap p99 µs", "ours/C"]
        var lines = [header]
        for row in rows {
            let ratio = row.theirs.map { String(format: "%.2f", row.ours.operationsPerSecond / $0.operationsPerSecond) } ?? "-"
            lines.append([
                "\(row.concurrency)", String(format: "%.0f", row.ours.operationsPerSecond), row.ours.p50, row.ours.p99,
                row.theirs.map { String(format: "%.0f", $0.operationsPerSecond) } ?? "-", row.theirs?.p50 ?? "-", row.theirs?.p99 ?? "-", ratio,
            ])
        }
        let widths = header.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
        for (index, line) in lines.enumerated() {
            print(line.indices.map { line[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: " | "))
            if index == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-|-")) }
        }
        print("memcaslap reports latency in power-of-two buckets: its p50/p99 are the bucket's upper bound.")
    }

    static func progress(_ line: String) {
        FileHandle.standardError.write(Data("\(line)\n".utf8))
    }
}

struct RunResult {
    var operationsPerSecond: Double
    var p50: String
    var p99: String
}

/// Reads memcaslap's "Total Statistics" block: ops/s from the `Run time:` line, latency
/// percentiles from the `Log2 Dist` histogram (bucket `k` holds latencies in [2^k, 2^(k+1)) µs).
struct MemcaslapReport {
    var result: RunResult

    init(output: String) throws {
        let lines = output.split(separator: "\n").map(String.init)
        guard let runLine = lines.last(where: { $0.hasPrefix("Run time:") }),
            let tpsRange = runLine.range(of: "TPS: "),
            let tps = Double(runLine[tpsRange.upperBound...].prefix { $0.isNumber })
        else { throw BenchmarkError("memcaslap printed no 'Run time: ... TPS:' line:\n\(output.suffix(2000))") }

        var buckets: [(exponent: Int, count: Int)] = []
        if let total = lines.lastIndex(where: { $0.hasPrefix("Total Statistics (") }),
            let dist = lines[total...].firstIndex(where: { $0.contains("Log2 Dist:") })
        {
            for line in lines[(dist + 1)...] {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let base = Int(parts[0].trimmingCharacters(in: .whitespaces)) else { break }
                for (offset, count) in parts[1].split(separator: " ").compactMap({ Int($0) }).enumerated() {
                    buckets.append((base + offset, count))
                }
            }
        }
        func percentile(_ fraction: Double) -> String {
            let total = buckets.reduce(0) { $0 + $1.count }
            guard total > 0 else { return "?" }
            var seen = 0
            for bucket in buckets {
                seen += bucket.count
                if Double(seen) >= Double(total) * fraction { return "≤\(1 << (bucket.exponent + 1))" }
            }
            return "?"
        }
        result = RunResult(operationsPerSecond: tps, p50: percentile(0.5), p99: percentile(0.99))
    }
}

struct BenchmarkOptions {
    var concurrencies = [1, 16, 64]
    var seconds = 5
    var valueSize = 1024
    var getRatio = 0.9
    var keyCount = 10_000
    var connectionsPerNode = 2
    var serverThreads = 1
    var serverCPU: Int? = 0
    var clientCPU: Int? = 1
    var runMemcaslap = true

    static let usage = """
        usage: MemcachedClientBenchmark [--seconds N] [--concurrency 1,16,64] [--value-size BYTES]
                                        [--get-ratio 0.9] [--keys N] [--connections-per-node N]
                                        [--server-threads N] [--no-pinning] [--no-memcaslap]
        Pinning: memcached runs on CPU 0, memcaslap on CPU 1; run this binary itself under
        `taskset -c 1` (as `make bench-client` does) so both clients get the same core.
        """

    init(arguments: [String]) throws {
        var iterator = arguments.makeIterator()
        func value(_ flag: String) throws -> String {
            guard let value = iterator.next() else { throw BenchmarkError("\(flag) needs a value\n\(Self.usage)") }
            return value
        }
        func number<T: LosslessStringConvertible>(_ flag: String) throws -> T {
            let text = try value(flag)
            guard let number = T(text) else { throw BenchmarkError("\(flag): '\(text)' is not a number\n\(Self.usage)") }
            return number
        }
        while let argument = iterator.next() {
            switch argument {
            case "--seconds": seconds = try number(argument)
            case "--concurrency":
                concurrencies = try value(argument).split(separator: ",").map {
                    guard let number = Int($0), number > 0 else { throw BenchmarkError("--concurrency takes a list like 1,16,64") }
                    return number
                }
            case "--value-size": valueSize = try number(argument)
            case "--get-ratio": getRatio = try number(argument)
            case "--keys": keyCount = try number(argument)
            case "--connections-per-node": connectionsPerNode = try number(argument)
            case "--server-threads": serverThreads = try number(argument)
            case "--no-pinning": serverCPU = nil; clientCPU = nil
            case "--no-memcaslap": runMemcaslap = false
            case "-h", "--help": print(Self.usage); exit(0)
            default: throw BenchmarkError("unknown argument \(argument)\n\(Self.usage)")
            }
        }
        guard seconds > 0, valueSize > 0, keyCount > 0, (0...1).contains(getRatio) else {
            throw BenchmarkError("seconds, value size and keys must be positive, get ratio within 0...1")
        }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func findExecutable(_ name: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") + ["/usr/bin", "/usr/sbin"] {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw BenchmarkError("\(name) not found: run `make bench-client`, which installs it (Debian package libmemcached-tools / util-linux)")
}

@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let output = String(decoding: data, as: UTF8.self)
    guard process.terminationStatus == 0 else {
        throw BenchmarkError("\(executable) \(arguments.joined(separator: " ")) exited \(process.terminationStatus):\n\(output.suffix(2000))")
    }
    return output
}

func pin(pid: Int32, toCPU cpu: Int) throws {
    try run(try findExecutable("taskset"), ["-p", "-c", "\(cpu)", "\(pid)"])
}
