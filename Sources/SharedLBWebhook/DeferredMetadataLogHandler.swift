public import Logging

/// swift-log's `StreamLogHandler`, same output, except that a logger's own metadata is
/// rendered when a message is written rather than every time it is set. Hummingbird puts a
/// request id on every request's logger, and `StreamLogHandler` re-renders all metadata on
/// each set: 2–3 % of the webhook's CPU under load, for messages that are mostly never
/// written (the default level is info; a conversion is logged at info, a pass-through at
/// debug).
public struct DeferredMetadataLogHandler: LogHandler {
    private var base: StreamLogHandler
    public var metadata: Logger.Metadata = [:]

    /// Wraps `base`, which must carry no metadata of its own.
    public init(wrapping base: StreamLogHandler) {
        self.base = base
    }

    public var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    public var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        // Set here, the metadata is rendered once for this line, merged with the provider's
        // and the message's exactly as StreamLogHandler merges them.
        var handler = base
        handler.metadata = metadata
        handler.log(event: event)
    }
}
