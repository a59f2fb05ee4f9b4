import Logging
import Synchronization

/// Log lines at warning and above, with their metadata, for tests that check what was logged
/// and through which logger.
public final class CapturedLog: Sendable {
    /// One logged line.
    public struct Line: Sendable {
        public var message: String
        /// The logger's metadata merged with the line's own.
        public var metadata: Logger.Metadata
    }

    public let lines = Mutex<[Line]>([])

    public init() {}

    /// The messages logged so far.
    public var messages: [String] { lines.withLock { $0.map(\.message) } }

    /// A logger that records into this log.
    public func logger(label: String = "test") -> Logger {
        Logger(label: label) { _ in Handler(log: self) }
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .warning
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let line = Line(message: event.message.description, metadata: metadata.merging(event.metadata ?? [:]) { $1 })
            log.lines.withLock { $0.append(line) }
        }
    }
}
