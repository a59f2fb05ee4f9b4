import Logging

/// swift-log's `StreamLogHandler` formats a logger's metadata into a string whenever metadata
/// is set, even when nothing at that level is ever written. Hummingbird and Vapor set a request
/// id on every request's logger: at `msm serve`'s usual `warning` level that formatting was about
/// 2% of a request's CPU (perf, sticky modifying). This handler keeps the metadata as it is and
/// lets `StreamLogHandler` format it only for the lines actually written: the same output.
struct DeferredMetadataLogHandler: LogHandler {
    private var stream: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(label: String, metadataProvider: Logger.MetadataProvider?) {
        stream = StreamLogHandler.standardError(label: label, metadataProvider: metadataProvider)  // as swift-log's default
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { stream.metadataProvider }
        set { stream.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty {
            event.metadata = metadata.merging(event.metadata ?? [:]) { $1 }
        }
        stream.log(event: event)
    }
}
