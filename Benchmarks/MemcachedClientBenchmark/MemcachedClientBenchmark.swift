import BenchmarkSupport
import Foundation
import MemcachedClient
import NIOCore
import ServerTestSupport

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

        print(
            """
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
        printResults(rows)
        await server.kill()
    }

    // MARK: Our client

    static func runOurClient(server: MemcachedServerProcess, concurrency: Int, options: BenchmarkOptions) async throws -> RunResult {
        var configuration = MemcachedClientConfiguration()
        configuration.connectionsPerNode = options.connectionsPerNode
        let client = try MemcachedClient(
            server: try MemcachedServer(parsing: server.endpoint),
            configuration: configuration
        )
        let keys = try (0..<options.keyCount).map { try MemcachedKey("bench:\($0)") }
        let value = ByteBuffer(repeating: UInt8(ascii: "v"), count: options.valueSize)
        for key in keys { try await client.set(key, value: value) }

        let setEvery = options.getRatio >= 1 ? Int.max : max(1, Int((1 / (1 - options.getRatio)).rounded()))
        let result = try await runTimedWorkers(concurrency: concurrency, seconds: options.seconds) { worker, deadline in
            var latencies: [UInt32] = []
            latencies.reserveCapacity(1 << 16)
            var operation = worker
            while NIODeadline.now() < deadline {
                let key = keys[(operation &* 7919) % keys.count]
                let started = NIODeadline.now()
                if operation % setEvery == 0 {
                    try await client.set(key, value: value)
                } else {
                    _ = try await client.get(key)
                }
                latencies.append(microseconds(since: started))
                operation += concurrency
            }
            return latencies
        }
        await client.shutdown()
        return result
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

        let arguments = [
            "-s", server.endpoint, "-T", "1", "-c", "\(concurrency)", "-t", "\(options.seconds)s",
            "-S", "\(options.seconds)s", "-F", configuration.path,
        ]
        let memcaslap = try findExecutable("memcaslap", installHint: "run `make bench-client`, which installs it (Debian package libmemcached-tools)")
        let output = try run(memcaslap, arguments, pinnedTo: options.clientCPU)
        return try MemcaslapReport(output: output).result
    }

    // MARK: Output

    static func printResults(_ rows: [(concurrency: Int, ours: RunResult, theirs: RunResult?)]) {
        printTable(
            header: ["concurrency", "ours ops/s", "ours p50 µs", "ours p99 µs", "memcaslap ops/s", "memcaslap p50 µs", "memcaslap p99 µs", "ours/C"],
            rows: rows.map { row in
                [
                    "\(row.concurrency)", formatRate(row.ours), row.ours.p50, row.ours.p99,
                    formatRate(row.theirs), row.theirs?.p50 ?? "-", row.theirs?.p99 ?? "-", ratio(row.ours, row.theirs),
                ]
            }
        )
        print("memcaslap reports latency in power-of-two buckets: its p50/p99 are the bucket's upper bound.")
    }
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
        var arguments = BenchmarkArguments(arguments, usage: Self.usage)
        while let argument = arguments.next() {
            switch argument {
            case "--seconds": seconds = try arguments.number(argument)
            case "--concurrency": concurrencies = try arguments.positiveIntegers(argument)
            case "--value-size": valueSize = try arguments.number(argument)
            case "--get-ratio": getRatio = try arguments.number(argument)
            case "--keys": keyCount = try arguments.number(argument)
            case "--connections-per-node": connectionsPerNode = try arguments.number(argument)
            case "--server-threads": serverThreads = try arguments.number(argument)
            case "--no-pinning":
                serverCPU = nil
                clientCPU = nil
            case "--no-memcaslap": runMemcaslap = false
            case "-h", "--help": arguments.printUsageAndExit()
            default: throw arguments.unknown(argument)
            }
        }
        guard seconds > 0, valueSize > 0, keyCount > 0, (0...1).contains(getRatio) else {
            throw BenchmarkError("seconds, value size and keys must be positive, get ratio within 0...1")
        }
    }
}
