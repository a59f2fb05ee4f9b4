import Foundation
import NIOCore
import NIOPosix

/// How many event loops `msm serve` runs. SwiftNIO sizes its shared group by the machine's cores
/// and cgroup limits, not by the process's CPU affinity (`taskset`, systemd's `CPUAffinity=`,
/// Kubernetes' static CPU manager): a server pinned to one core would run as many loops as the
/// machine has cores, which only take turns on it, with a thread switch at every hop from one to
/// another (a store reply on one loop resuming a request on another). Measured with the server
/// pinned to one core of two: about 3.4 thread switches per sticky modifying request.
enum EventLoopCount {
    /// The CPUs this process may run on, from `Cpus_allowed_list` in `/proc/self/status`
    /// (`0-3,8`); `nil` where there is no such file (not Linux) or it does not parse.
    static func allowedCPUs(procStatus: String) -> Int? {
        guard let line = procStatus.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }) else { return nil }
        var count = 0
        for range in line.dropFirst("Cpus_allowed_list:".count).split(separator: ",") {
            let bounds = range.trimmingCharacters(in: .whitespaces).split(separator: "-", omittingEmptySubsequences: false)
            guard let first = bounds.first.flatMap({ Int($0) }) else { return nil }
            let last = bounds.count == 2 ? Int(bounds[1]) : first
            guard bounds.count <= 2, let last, last >= first else { return nil }
            count += last - first + 1
        }
        return count > 0 ? count : nil
    }

    /// The count to run: `requested` if given, else the smaller of NIO's choice and the CPUs
    /// this process may use.
    static func decide(requested: Int?, nioDefault: Int, allowedCPUs: Int?) -> Int {
        if let requested { return requested }
        return max(1, min(nioDefault, allowedCPUs ?? nioDefault))
    }

    /// Sizes NIO's shared event loop group (Hummingbird's, Vapor's and the store clients'); must
    /// run before anything uses the group. Returns the count.
    static func apply(requested: Int?) -> Int {
        let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        // NIO's own override, which setting the suggestion would otherwise silently replace.
        let nioOverride = ProcessInfo.processInfo.environment["NIO_SINGLETON_GROUP_LOOP_COUNT"].flatMap { Int($0) }.flatMap { $0 > 0 ? $0 : nil }
        let count = decide(
            requested: requested ?? nioOverride, nioDefault: System.coreCount, allowedCPUs: status.flatMap(allowedCPUs(procStatus:)))
        NIOSingletons.groupLoopCountSuggestion = count
        return count
    }
}
