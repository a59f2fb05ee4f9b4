import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A child process of `msm demo` that can be stopped and started again by name.
final class ManagedProcess: Sendable {
    let name: String
    let executable: String
    let arguments: [String]
    let logFile: URL
    private let process = Mutex<Process?>(nil)
    private let stopping = Mutex(false)
    private let onUnexpectedExit: @Sendable (String, Int32) -> Void

    init(name: String, executable: String, arguments: [String], logFile: URL, onUnexpectedExit: @escaping @Sendable (String, Int32) -> Void) {
        self.name = name
        self.executable = executable
        self.arguments = arguments
        self.logFile = logFile
        self.onUnexpectedExit = onUnexpectedExit
    }

    var pid: Int32? { process.withLock { $0?.isRunning == true ? $0?.processIdentifier : nil } }

    func start() throws {
        guard pid == nil else { return }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = arguments
        if !FileManager.default.fileExists(atPath: logFile.path) {
            _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        }
        let log = try FileHandle(forWritingTo: logFile)
        log.seekToEndOfFile()
        child.standardOutput = log
        child.standardError = log
        child.standardInput = FileHandle.nullDevice
        stopping.withLock { $0 = false }
        let name = self.name
        child.terminationHandler = { [weak self] finished in
            guard let self, !self.stopping.withLock({ $0 }) else { return }
            self.onUnexpectedExit(name, finished.terminationStatus)
        }
        try child.run()
        process.withLock { $0 = child }
    }

    /// SIGTERM, then SIGKILL after `grace`; returns once the process is gone.
    func stop(grace: Duration = .seconds(3)) async {
        guard let child = process.withLock({ $0 }), child.isRunning else { return }
        stopping.withLock { $0 = true }
        child.terminate()
        let clock = ContinuousClock()
        let deadline = clock.now + grace
        while child.isRunning && clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if child.isRunning {
            kill(child.processIdentifier, SIGKILL)
            while child.isRunning { try? await Task.sleep(for: .milliseconds(20)) }
        }
    }

    /// The last lines of the process's log, for error messages.
    func logTail(lines: Int = 8) -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }
}
