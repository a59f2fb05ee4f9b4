import Logging

/// swift-log's `StreamLogHandler` formats a logger's metadata into a string whenever metadata
/// is set, even when nothing at that level is ever written. Hummingbird and Vapor set a request
/// id on every request's logger: at `msm serve`'s usual `warning` level that formatting was about
/// 2% of a request's CPU (perf, sticky modifying). This handler keeps the metadata as it is and
/// lets `StreamLogHandler` format it only for the lines actually written: the same output.
struct DeferredMetadataLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    /// Applied here, not by the stream, so the order is StreamLogHandler's: the logger's metadata,
    /// then the provider's, then the line's own.
    var metadataProvider: Logger.MetadataProvider?

    init(label: String, metadataProvider: Logger.MetadataProvider?) {
        stream = StreamLogHandler.standardError(label: label, metadataProvider: nil)  // as swift-log's default
        self.metadataProvider = metadataProvider
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        let provided = metadataProvider?.get() ?? [:]
        if !metadata.isEmpty || !provided.isEmpty {
            event.metadata = metadata.merging(provided) { $1 }.merging(event.metadata ?? [:]) { $1 }
        }
        stream.log(event: event)
    }
}
