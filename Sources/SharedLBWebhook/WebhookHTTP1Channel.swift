import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// The webhook's HTTP/1.1 child channel, with `POST /mutate` answered on the event loop.
///
/// Built only from public extension points: NIO's HTTP/1.1 server pipeline, handlers of our
/// own, Hummingbird's public `HTTPConnectionStateHandler` and its request loop
/// (`HTTPChannelHandler.handleHTTP`), which answers whatever ``AdmissionFastPath`` hands on.
/// The pipeline, from the socket (TLS, when ``TLSChannel`` wraps this one, comes first):
///
/// 1. ``WriteCoalescer`` (when `coalescesWrites`): each answer sealed in one TLS record;
/// 2. NIO's HTTP/1.1 decoder and encoder;
/// 3. ``OriginFormCodec``: NIO's request parts to HTTP types without a URL parse per request;
/// 4. ``FlushBeforeClose``, then Hummingbird's connection-state handler (idle timeout, closing
///    keep-alive connections on graceful shutdown), which so still sees every request and answer;
/// 5. ``AdmissionFastPath`` (when `admission` is set): answers a review in the event-loop turn
///    its body arrives in. Hummingbird's per-request path (an async sequence of request parts,
///    a hop to the connection's task, a response writer) cost about a fifth of the webhook's
///    CPU under load.
///
/// Every other request goes on to Hummingbird: other paths and methods, bodies without a
/// Content-Length or over ``AdmissionFastPath/largestBody`` (parsing those would hold up the
/// event loop's other connections), and a review that arrives while one of those is still being
/// answered, so answers keep their order. The plain metrics and probes listener uses this
/// channel too, without the fast path.
struct WebhookHTTP1Channel: HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    /// Hummingbird's responder, for the requests the fast path hands on.
    let responder: HTTPChannelHandler.Responder
    /// Answers `POST /mutate` from the pipeline; nil: Hummingbird answers every request.
    let admission: WebhookResponder?
    /// A connection without a request for this long is closed.
    var idleTimeout: Duration?
    /// Gathers an answer's writes into one buffer for TLS.
    var coalescesWrites = false

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            if coalescesWrites {
                try operations.addHandler(WriteCoalescer())
            }
            try operations.configureHTTPServerPipeline(
                // The request loop and the fast path keep answers in order themselves.
                withPipeliningAssistance: false,
                // A malformed request reaches Hummingbird's request loop as an error: it answers 400.
                withErrorHandling: false,
                // HTTPTypes has validated the fields already.
                withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(),
                withDecoderLimitConfiguration: Self.decoderLimits)
            try operations.addHandler(OriginFormCodec())
            let connectionState = HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger)
            if let admission {
                let fastPath = AdmissionFastPath(responder: admission)
                try operations.addHandler(FlushBeforeClose(fastPath: fastPath))
                try operations.addHandler(connectionState)
                try operations.addHandler(fastPath)
            } else {
                try operations.addHandler(connectionState)
            }
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }

    /// Hummingbird's limits: headers of at most 80 KiB in all, 1,000 fields.
    static var decoderLimits: NIOHTTPDecoderLimitConfiguration {
        var limits = NIOHTTPDecoderLimitConfiguration()
        limits.maxHeaderFieldSize = 80 * 1024
        limits.maxHeaderListSize = 80 * 1024
        limits.maxHeaderFieldCount = 1000
        return limits
    }
}
