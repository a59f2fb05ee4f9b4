import Foundation
import NIOCore

// What the client benchmarks (our client against a C load generator, side by side) share:
// argument parsing pieces, timed workers with latency percentiles, running and pinning external
// programs, progress lines and the printed table.

/// A benchmark's failure, shown as is.
public struct BenchmarkError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

// MARK: Arguments

/// Walks a benchmark's command line: flags and their values, failing with the usage text.
public struct BenchmarkArguments {
    private var iterator: IndexingIterator<[String]>
    /// Printed after every parse error and for `--help`.
    public let usage: String

    public init(_ arguments: [String], usage: String) {
        self.iterator = arguments.makeIterator()
        self.usage = usage
    }

    /// The next flag, or `nil` at the end.
    public mutating func next() -> String? { iterator.next() }

    /// The value following `flag`.
    public mutating func value(_ flag: String) throws -> String {
        guard let value = iterator.next() else { throw BenchmarkError("\(flag) needs a value\n\(usage)") }
        return value
    }

    /// The number following `flag`.
    public mutating func number<T: LosslessStringConvertible>(_ flag: String) throws -> T {
        let text = try value(flag)
        guard let number = T(text) else { throw BenchmarkError("\(flag): '\(text)' is not a number\n\(usage)") }
        return number
    }

    /// A comma-separated list of positive integers following `flag`, like `1,16,64`.
    public mutating func positiveIntegers(_ flag: String) throws -> [Int] {
        try value(flag).split(separator: ",").map {
            guard let number = Int($0), number > 0 else { throw BenchmarkError("\(flag) takes a list like 1,16,64") }
            return number
        }
    }

    /// The error for an argument nobody recognised.
    public func unknown(_ argument: String) -> BenchmarkError {
        BenchmarkError("unknown argument \(argument)\n\(usage)")
    }

    /// Prints the usage and exits successfully (`-h`, `--help`).
    public func printUsageAndExit() -> Never {
        print(usage)
        exit(0)
    }
}

// MARK: Measuring

/// One side's figures for one table row; latencies are preformatted since the C tools report
/// them in their own resolution (memcaslap: power-of-two buckets).
public struct RunResult: Sendable {
    public var operationsPerSecond: Double
    public var p50: String
    public var p99: String

    public init(operationsPerSecond: Double, p50: String, p99: String) {
        self.operationsPerSecond = operationsPerSecond
        self.p50 = p50
        self.p99 = p99
    }
}

/// Runs `concurrency` workers until `seconds` have passed and reports operations per second and
/// the p50/p99 of every latency they recorded (µs). Each worker gets its index and the deadline,
/// loops until the deadline and returns one latency per operation.
///
/// With `executors`, worker `i` runs on `executors[i % executors.count]` (a task executor
/// preference) instead of the global concurrent executor.
public func runTimedWorkers(
    concurrency: Int,
    seconds: Int,
    executors: [any TaskExecutor] = [],
    _ worker: @escaping @Sendable (_ index: Int, _ deadline: NIODeadline) async throws -> [UInt32]
) async throws -> RunResult {
    let deadline = NIODeadline.now() + .seconds(Int64(seconds))
    let startTime = NIODeadline.now()
    let latencies = try await withThrowingTaskGroup(of: [UInt32].self) { group in
        for index in 0..<concurrency {
            let executor = executors.isEmpty ? nil : executors[index % executors.count]
            group.addTask(executorPreference: executor) { try await worker(index, deadline) }
        }
        return try await group.reduce(into: [UInt32]()) { $0.append(contentsOf: $1) }
    }
    let elapsed = Double((NIODeadline.now() - startTime).nanoseconds) / 1e9
    let sorted = latencies.sorted()
    return RunResult(
        operationsPerSecond: Double(sorted.count) / elapsed,
        p50: "\(percentile(sorted, 0.50))",
        p99: "\(percentile(sorted, 0.99))"
    )
}

/// Microseconds since `start`, saturated to `UInt32`.
@inlinable
public func microseconds(since start: NIODeadline) -> UInt32 {
    UInt32(clamping: (NIODeadline.now() - start).nanoseconds / 1000)
}

/// The value below which `fraction` of `sorted` lies (nearest rank); 0 when empty.
public func percentile(_ sorted: [UInt32], _ fraction: Double) -> UInt32 {
    sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}

// MARK: External programs

/// `name`'s path in `PATH` (or `/usr/bin`, `/usr/sbin`); `installHint` says where to get it.
public func findExecutable(_ name: String, installHint: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") + ["/usr/bin", "/usr/sbin"] {
        let candidate = "\(directory)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw BenchmarkError("\(name) not found: \(installHint)")
}

/// Runs a program to completion and returns what it printed (stdout and stderr); throws when it
/// exits non-zero.
@discardableResult
public func run(_ executable: String, _ arguments: [String]) throws -> String {
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

/// `run`, under `taskset -c cpu` when `cpu` is given.
@discardableResult
public func run(_ executable: String, _ arguments: [String], pinnedTo cpu: Int?) throws -> String {
    guard let cpu else { return try run(executable, arguments) }
    return try run(try taskset(), ["-c", "\(cpu)", executable] + arguments)
}

/// Moves a running process, every one of its threads, onto one CPU. Without `-a` taskset moves
/// only the main thread, and servers that start their worker threads first (memcached's
/// `mc-worker`, redis-server's `bio_*`) would keep them on the CPU they inherited from us.
public func pin(pid: Int32, toCPU cpu: Int) throws {
    try run(try taskset(), ["-a", "-p", "-c", "\(cpu)", "\(pid)"])
}

private func taskset() throws -> String {
    try findExecutable("taskset", installHint: "it ships in Debian's util-linux")
}

// MARK: Output

/// One line on stderr, so progress never mixes with the table on stdout.
public func progress(_ line: String) {
    FileHandle.standardError.write(Data("\(line)\n".utf8))
}

/// Prints `rows` under `header` as a table with `|`-separated, padded columns.
public func printTable(header: [String], rows: [[String]]) {
    let lines = [header] + rows
    let widths = header.indices.map { column in lines.map { $0[column].count }.max() ?? 0 }
    for (index, line) in lines.enumerated() {
        print(line.indices.map { line[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: " | "))
        if index == 0 { print(widths.map { String(repeating: "-", count: $0) }.joined(separator: "-|-")) }
    }
}

/// `ours / theirs` with two decimals, or `-` without a reference run.
public func ratio(_ ours: RunResult, _ theirs: RunResult?) -> String {
    theirs.map { String(format: "%.2f", ours.operationsPerSecond / $0.operationsPerSecond) } ?? "-"
}

/// Operations per second as a whole number.
public func formatRate(_ result: RunResult?) -> String {
    result.map { String(format: "%.0f", $0.operationsPerSecond) } ?? "-"
}
