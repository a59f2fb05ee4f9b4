import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process of `msm demo` that can be stopped and started again by name.
///
/// Spawned with `posix_spawn` in its own process group (so Ctrl-C reaches only the demo, which
/// then stops its children in order) and reaped with `waitpid` by this type alone: the demo
/// decides when a child is gone, not a runtime's signal machinery.
final class ManagedProcess: Sendable {
    let name: String
    let executable: String
    let arguments: [String]
    let logFile: URL
    private let child = Mutex<pid_t?>(nil)

    init(name: String, executable: String, arguments: [String], logFile: URL) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logFile = logFile
    }

    /// The process id while it runs; reaps it (and forgets it) once it has exited.
    var pid: pid_t? {
        child.withLock { child in
            guard let pid = child else { return nil }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == 0 { return pid }
            child = nil
            return nil
        }
    }

    func start() throws {
        guard pid == nil else { return }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logFile.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGINT, SIGTERM, SIGPIPE, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard result == 0 else {
            throw DemoError("cannot start \(name) (\(executable)): \(String(cString: strerror(result)))")
        }
        child.withLock { $0 = pid }
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is reaped.
    func stop(grace: Duration = .seconds(3)) async {
        guard let pid = pid else { return }
        kill(pid, SIGTERM)
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while self.pid != nil {
            if clock.now >= deadline { kill(pid, SIGKILL) }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The last lines of the process's log, for error messages.
    func logTail(lines: Int = 8) -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}

/// A demo failure, said plainly.
struct DemoError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
