import BenchmarkSupport
import Foundation
import NIOCore
import NIOPosix
import RedisClient
import ServerTestSupport

/// Our RESP client against redis-benchmark (Redis' own C load generator): same server, same
/// workload, each row run back to back, side by side. See `make bench-redis`.
///
/// The workload is redis-benchmark's own `-t set,get -d SIZE -r KEYS`: SET and GET measured
/// separately (redis-benchmark cannot mix them), values of SIZE bytes, keys drawn uniformly from
/// `key:000000000000`...`key:<KEYS-1>` (its `__rand_int__` names), all prefilled so every GET hits.
@main
struct RedisClientBenchmark {
    static func main() async throws {
        let options = try BenchmarkOptions(arguments: Array(CommandLine.arguments.dropFirst()))
        let server = try await RedisServerProcess.start()  // persistence off: --save "" --appendonly no
        defer { Task { await server.kill() } }
        if let cpu = options.serverCPU { try pin(pid: server.pid, toCPU: cpu) }
        let version = (try? await server.info("server"))?["redis_version"] ?? "?"
        let cpuNote =
            options.serverCPU.map { cpu in
                "redis-server pinned to CPU \(cpu), redis-benchmark to CPU \(options.clientCPU.map(String.init) ?? "-") (taskset)"
            } ?? "no CPU pinning"
        let sizing =
            options.requests.map { "fixed -n \($0)" }
            ?? "sized per row from a calibration run of 10,000 x P requests to last ~\(options.seconds) s"
        print(
            """
            workload: \(options.valueSize)-byte values, \(options.commands.map(\.rawValue).joined(separator: " and ")) measured separately, \
            \(options.keyCount) random keys (key:__rand_int__, prefilled), \(options.seconds) s per run of ours, \
            our client on \(options.connectionsPerNode) connection(s) with its tasks on \(options.onEventLoops ? "the connections' event loops" : "the global executor"); redis-server \(version) on \(server.endpoint), \(cpuNote); \
            redis-benchmark -n \(sizing)
            """)

        let keys = (0..<options.keyCount).map { String(format: "key:%012d", $0) }
        let value = ByteBuffer(bytes: (0..<options.valueSize).map { UInt8(ascii: "!") + UInt8($0 % 94) })
        progress("prefilling \(keys.count) keys...")
        try await prefill(server: server, keys: keys, value: value, options: options)

        var rows: [Row] = []
        for depth in options.pipelineDepths {
            for concurrency in options.concurrencies {
                for command in options.commands {
                    let label = "\(command.rawValue), concurrency \(concurrency), pipeline \(depth)"
                    progress("our client: \(label)...")
                    let ours = try await runOurClient(
                        server: server, command: command, concurrency: concurrency, depth: depth,
                        keys: keys, value: value, options: options
                    )
                    var theirs: (result: RunResult, requests: Int)?
                    if options.runRedisBenchmark {
                        progress("redis-benchmark: \(label)...")
                        theirs = try runRedisBenchmark(server: server, command: command, concurrency: concurrency, depth: depth, options: options)
                    }
                    rows.append(
                        Row(depth: depth, command: command, concurrency: concurrency, ours: ours, theirs: theirs?.result, requests: theirs?.requests))
                }
            }
        }
        printTable(
            header: [
                "mode", "command", "concurrency", "ours ops/s", "ours p50 µs", "ours p99 µs",
                "redis-benchmark ops/s", "its p50 µs", "its p99 µs", "its -n", "ours/C", "goal",
            ],
            rows: rows.map { row in
                [
                    row.depth == 1 ? "no pipelining" : "pipeline \(row.depth)", row.command.rawValue, "\(row.concurrency)",
                    formatRate(row.ours), row.ours.p50, row.ours.p99,
                    formatRate(row.theirs), row.theirs?.p50 ?? "-", row.theirs?.p99 ?? "-", row.requests.map(String.init) ?? "-",
                    ratio(row.ours, row.theirs), row.depth == 1 ? ">= 0.90" : ">= 1.00",
                ]
            }
        )
        print(
            """
            no pipelining: ours runs N tasks, each awaiting one command at a time; redis-benchmark -c N -P 1.
            pipeline P: ours runs N tasks, each sending P commands as one batch (RedisClient.pipeline) and awaiting all; redis-benchmark -c N -P P.
            Latencies: ours per command, from its issue (pipelined: from its batch's issue to the batch's last reply); redis-benchmark
            records, for every command of a batch, the time from the batch's write to its first reply (HDR histogram, 1 µs).
            Ours multiplexes all N tasks over its connections; redis-benchmark opens N connections.
            """)
        await server.kill()
    }

    struct Row {
        var depth: Int
        var command: Command
        var concurrency: Int
        var ours: RunResult
        var theirs: RunResult?
        var requests: Int?
    }

    enum Command: String, CaseIterable {
        case set = "SET"
        case get = "GET"
    }

    // MARK: Our client

    static func makeClient(server: RedisServerProcess, options: BenchmarkOptions) throws -> RedisClient {
        var configuration = RedisClientConfiguration()
        configuration.connectionsPerNode = options.connectionsPerNode
        return try RedisClient(server: try RedisServer(url: "redis://\(server.endpoint)"), configuration: configuration)
    }

    /// Stores every key once, so GETs always hit, on either side.
    static func prefill(server: RedisServerProcess, keys: [String], value: ByteBuffer, options: BenchmarkOptions) async throws {
        let client = try makeClient(server: server, options: options)
        let workers = 64
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    for index in stride(from: worker, to: keys.count, by: workers) {
                        try await client.set(keys[index], value: value)
                    }
                }
            }
            try await group.waitForAll()
        }
        guard let stored = try await client.get(keys[keys.count - 1]), stored == value else {
            throw BenchmarkError("prefill failed: \(keys[keys.count - 1]) does not hold the value just stored")
        }
        await client.shutdown()
    }

    static func runOurClient(
        server: RedisServerProcess,
        command: Command,
        concurrency: Int,
        depth: Int,
        keys: [String],
        value: ByteBuffer,
        options: BenchmarkOptions
    ) async throws -> RunResult {
        let client = try makeClient(server: server, options: options)
        for _ in 0..<options.connectionsPerNode { try await client.ping() }  // open every connection first

        let executors: [any TaskExecutor] =
            options.onEventLoops
            ? MultiThreadedEventLoopGroup.singleton.makeIterator().map { EventLoopTaskExecutor($0) } : []
        let result = try await runTimedWorkers(concurrency: concurrency, seconds: options.seconds, executors: executors) { worker, deadline in
            var random = SplitMix64(seed: UInt64(worker) &* 0x9E37_79B9 &+ 1)
            var latencies: [UInt32] = []
            latencies.reserveCapacity(1 << 16)
            if depth == 1 {
                while NIODeadline.now() < deadline {
                    let key = keys[Int(random.next() % UInt64(keys.count))]
                    let started = NIODeadline.now()
                    switch command {
                    case .set: try await client.set(key, value: value)
                    case .get: _ = try await client.get(key)
                    }
                    latencies.append(microseconds(since: started))
                }
            } else {
                var batch: [RESPCommand] = []
                batch.reserveCapacity(depth)
                while NIODeadline.now() < deadline {
                    batch.removeAll(keepingCapacity: true)
                    for _ in 0..<depth {
                        let key = keys[Int(random.next() % UInt64(keys.count))]
                        switch command {
                        case .set: batch.append(try .set(key, value))
                        case .get: batch.append(try .get(key))
                        }
                    }
                    let started = NIODeadline.now()
                    for reply in try await client.pipeline(batch) { _ = try reply.get() }
                    let latency = microseconds(since: started)
                    for _ in 0..<depth { latencies.append(latency) }
                }
            }
            return latencies
        }
        await client.shutdown()
        return result
    }

    // MARK: redis-benchmark

    static func runRedisBenchmark(
        server: RedisServerProcess,
        command: Command,
        concurrency: Int,
        depth: Int,
        options: BenchmarkOptions
    ) throws -> (result: RunResult, requests: Int) {
        let executable = try findExecutable(
            "redis-benchmark",
            installHint: "run `make bench-redis`, which installs it (Debian package redis-tools)"
        )
        func benchmark(requests: Int) throws -> RunResult {
            let arguments = [
                "-h", server.host, "-p", "\(server.port)", "-c", "\(concurrency)", "-n", "\(requests)", "-P", "\(depth)",
                "-d", "\(options.valueSize)", "-r", "\(options.keyCount)", "-t", command.rawValue.lowercased(), "--csv",
            ]
            let output = try run(executable, arguments, pinnedTo: options.clientCPU)
            return try RedisBenchmarkReport(output: output, test: command.rawValue).result
        }
        let requests: Int
        if let fixed = options.requests {
            requests = fixed
        } else {
            let calibration = try benchmark(requests: 10_000 * depth)
            requests = max(10_000 * depth, Int(calibration.operationsPerSecond * Double(options.seconds)))
        }
        return (try benchmark(requests: requests), requests)
    }
}

/// Reads one test's row of `redis-benchmark --csv` (7.x):
/// `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"`.
struct RedisBenchmarkReport {
    var result: RunResult

    init(output: String, test: String) throws {
        let lines = output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map(String.init)
        let fields = { (line: String) in line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\" ")) } }
        guard let headerLine = lines.first(where: { $0.hasPrefix("\"test\"") }) else {
            throw BenchmarkError("redis-benchmark printed no CSV header (needs redis-benchmark 7 or later):\n\(output.suffix(2000))")
        }
        let header = fields(headerLine)
        guard let row = lines.map(fields).first(where: { $0.first == test }), row.count == header.count else {
            throw BenchmarkError("redis-benchmark printed no CSV row for \(test):\n\(output.suffix(2000))")
        }
        func column(_ name: String) throws -> Double {
            guard let index = header.firstIndex(of: name), let number = Double(row[index]) else {
                throw BenchmarkError("redis-benchmark's CSV has no numeric \(name) column:\n\(output.suffix(2000))")
            }
            return number
        }
        func microseconds(_ name: String) throws -> String {
            String(format: "%.0f", try column(name) * 1000)
        }
        result = RunResult(
            operationsPerSecond: try column("rps"),
            p50: try microseconds("p50_latency_ms"),
            p99: try microseconds("p99_latency_ms")
        )
    }
}

struct BenchmarkOptions {
    var concurrencies = [1, 16, 64]
    var pipelineDepths = [1, 16]
    var commands = RedisClientBenchmark.Command.allCases
    var seconds = 3
    var valueSize = 1024
    var keyCount = 10_000
    var connectionsPerNode = 2
    var requests: Int?
    var serverCPU: Int? = 0
    var clientCPU: Int? = 1
    var runRedisBenchmark = true
    var onEventLoops = false

    static let usage = """
        usage: RedisClientBenchmark [--seconds N] [--concurrency 1,16,64] [--pipeline 1,16] [--tests set,get]
                                    [--value-size BYTES] [--keys N] [--connections-per-node N]
                                    [--requests N] [--on-event-loops] [--no-pinning] [--no-redis-benchmark]
        --pipeline lists the depths to run; 1 is no pipelining. --requests fixes redis-benchmark's -n
        instead of sizing it from a calibration run to last about --seconds. --on-event-loops runs our
        tasks on NIO's event loops (a task executor preference) instead of the global executor, as
        NIO-native callers would: each request then stays on its connection's thread, no hops.
        Pinning: redis-server runs on CPU 0, redis-benchmark on CPU 1; run this binary itself under
        `taskset -c 1` (as `make bench-redis` does) so both clients get the same core.
        """

    init(arguments: [String]) throws {
        var arguments = BenchmarkArguments(arguments, usage: Self.usage)
        while let argument = arguments.next() {
            switch argument {
            case "--seconds": seconds = try arguments.number(argument)
            case "--concurrency": concurrencies = try arguments.positiveIntegers(argument)
            case "--pipeline": pipelineDepths = try arguments.positiveIntegers(argument)
            case "--tests":
                commands = try arguments.value(argument).split(separator: ",").map {
                    guard let command = RedisClientBenchmark.Command(rawValue: $0.uppercased()) else {
                        throw BenchmarkError("--tests takes set, get or set,get")
                    }
                    return command
                }
            case "--value-size": valueSize = try arguments.number(argument)
            case "--keys": keyCount = try arguments.number(argument)
            case "--connections-per-node": connectionsPerNode = try arguments.number(argument)
            case "--requests": requests = try arguments.number(argument)
            case "--no-pinning":
                serverCPU = nil
                clientCPU = nil
            case "--no-redis-benchmark": runRedisBenchmark = false
            case "--on-event-loops": onEventLoops = true
            case "-h", "--help": arguments.printUsageAndExit()
            default: throw arguments.unknown(argument)
            }
        }
        guard seconds > 0, valueSize > 0, keyCount > 0, connectionsPerNode > 0, !commands.isEmpty, (requests ?? 1) > 0 else {
            throw BenchmarkError("seconds, value size, keys, connections and requests must be positive, --tests not empty")
        }
    }
}
