import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOSSL

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The webhook's HTTP/1.1 channel: Hummingbird's, with `POST /mutate` answered on the event loop.
///
/// Once its body is in, a review's answer needs nothing but the CPU (and a log line).
/// Hummingbird's per-request path (an async sequence of request parts, a hop to the
/// connection's task, a response writer) cost about a fifth of the webhook's CPU under load,
/// so ``AdmissionFastPath`` reads a review's parts and writes its answer in the same
/// event-loop turn. It sits after Hummingbird's connection-state handler, which therefore
/// still sees every request and answer (idle timeout, closing keep-alive connections on
/// graceful shutdown). Every other request goes on to Hummingbird: other paths and methods,
/// bodies without a Content-Length or over ``AdmissionFastPath/largestBody`` (parsing those
/// would hold up the event loop's other connections), and a review that arrives while one of
/// those is still being answered, so answers keep their order. Hummingbird's conversion of
/// NIO's request heads gives way to ``OriginFormCodec``, and a ``WriteCoalescer`` after TLS
/// has each answer sealed in one record. The plain metrics and probes listener uses this
/// channel too, without the fast path (`responder` nil).
struct WebhookHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    /// Answers `POST /mutate` from the pipeline; nil: Hummingbird answers every request.
    let responder: WebhookResponder?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let responder = self.responder
        return base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let operations = channel.pipeline.syncOperations
            let codec = try operations.handler(type: HTTP1ToHTTPServerCodec.self)
            try operations.addHandler(OriginFormCodec(), position: .after(codec))
            operations.removeHandler(codec, promise: nil)
            if let tls = try? operations.handler(type: NIOSSLServerHandler.self) {
                try operations.addHandler(WriteCoalescer(), position: .after(tls))
            }
            if let responder {
                let connectionState = try operations.handler(type: HTTPConnectionStateHandler.self)
                let fastPath = AdmissionFastPath(responder: responder)
                try operations.addHandler(fastPath, position: .after(connectionState))
                try operations.addHandler(FlushBeforeClose(fastPath: fastPath), position: .before(connectionState))
            }
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Answers `POST /mutate` from the channel pipeline; see ``WebhookHTTP1Channel``.
final class AdmissionFastPath: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Larger reviews go to Hummingbird, off the event loop (parsing 1 MiB takes about a millisecond).
    static let largestBody = 1 << 20

    private enum State {
        case idle
        /// A request Hummingbird answers: its parts go on (`last` when it asked to close the connection).
        case forwarding(last: Bool)
        /// A review being read, its body into `body`.
        case reading(started: ContinuousClock.Instant, length: Int, closeAfter: Bool)
        /// A review refused by its head: the rest of its body is dropped.
        case discarding
        /// The connection is closing: nothing more is read as a request.
        case closed
    }

    private let responder: WebhookResponder
    private var state = State.idle
    /// The body of the review being read.
    private var body: ByteBuffer?
    /// Requests handed on to Hummingbird whose answer has not been written yet.
    private var forwardedInFlight = 0
    private var date = HTTPDate()
    private var flushScheduled = false
    /// A read the channel asked for while it could not write: answers are not read ahead of a
    /// client that does not read them.
    private var heldRead = false
    private var removed = false

    init(responder: WebhookResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch (state, part) {
        case (.idle, .head(let head)):
            guard forwardedInFlight == 0, head.method == .post, Self.isMutate(head.path),
                let length = head.headerFields[.contentLength].flatMap(Int.init), length <= Self.largestBody
            else {
                forwardedInFlight += 1
                state = .forwarding(last: head.headerFields[.connection] == "close")
                context.fireChannelRead(data)
                return
            }
            let started = responder.beginMutate()
            // As Hummingbird's request loop decides it.
            let closeAfter = head.headerFields[.connection] == "close"
            if let refusal = responder.refuse(head: head.headerFields) {
                state = .discarding
                write(refusal, started: started, closeAfter: closeAfter, context: context)
            } else {
                state = .reading(started: started, length: length, closeAfter: closeAfter)
            }
        case (.forwarding(let last), _):
            // After a request that closes the connection, no other is read (RFC 9112 9.6).
            if case .end = part { state = last ? .closed : .idle }
            context.fireChannelRead(data)
        case (.reading(_, let length, _), .body(let chunk)):
            // The decoder hands out slices of its own buffer: keep a whole body as it is, gather
            // one that comes in pieces into a buffer of its announced length.
            if body == nil, chunk.readableBytes < length {
                body = context.channel.allocator.buffer(capacity: length)
            }
            if body == nil {
                body = chunk
            } else {
                body!.writeImmutableBuffer(chunk)
            }
        case (.reading(let started, _, let closeAfter), .end):
            let review = body ?? ByteBuffer()
            body = nil
            state = .idle
            write(responder.answer(body: review), started: started, closeAfter: closeAfter, context: context)
        case (.discarding, .body):
            break
        case (.discarding, .end):
            state = .idle
        case (.closed, _):
            break
        case (.idle, .body), (.idle, .end), (.reading, .head), (.discarding, .head):
            // NIO's HTTP decoder never delivers these; Hummingbird's request loop refuses them.
            context.fireChannelRead(data)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), forwardedInFlight > 0 {
            forwardedInFlight -= 1
        }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            context.read()
        } else {
            heldRead = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if heldRead, context.channel.isWritable {
            heldRead = false
            context.read()
        }
        context.fireChannelWritabilityChanged()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Hummingbird answers a malformed request (400) and closes the connection.
        connectionClosing()
        context.fireErrorCaught(error)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The connection-state handler before this one does not pass `channelInactive` on;
        // every handler is removed when the channel closes. (A body cut short by the close also
        // reaches `errorCaught`, from the HTTP decoder; this is the backstop.)
        connectionClosing()
        removed = true
    }

    /// Stops reading requests; a review cut short is counted as refused.
    func connectionClosing() {
        if case .reading(let started, _, _) = state {
            body = nil
            responder.abandonMutate(started)
        }
        state = .closed
    }

    private func write(
        _ answer: Answer, started: ContinuousClock.Instant, closeAfter: Bool, context: ChannelHandlerContext
    ) {
        var fields = answer.headers
        fields[.contentLength] = String(answer.body.readableBytes)
        fields[.date] = date.current()
        context.write(wrapOutboundOut(.head(HTTPResponse(status: answer.status, headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(answer.body)), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        responder.endMutate(started)
        if closeAfter {
            // As Hummingbird does: close our side, read (and drop) until the client closes its own.
            context.close(mode: .output, promise: nil)
        } else if !flushScheduled {
            // Flushed once the event loop has read every connection that is ready: a client with
            // many connections then wakes up once for a batch of answers, not once per answer
            // (on a 2-core VM that took a third of the webhook's CPU and capped its throughput).
            flushScheduled = true
            context.eventLoop.assumeIsolated().execute {
                self.flushScheduled = false
                if !self.removed { context.flush() }
            }
        }
    }

    /// `/mutate`, with or without a query (kube-apiserver appends `?timeout=10s`).
    static func isMutate(_ path: String?) -> Bool {
        guard let path else { return false }
        let utf8 = path.utf8
        let name = "/mutate".utf8
        return utf8.starts(with: name)
            && (utf8.count == name.count
                || utf8[utf8.index(utf8.startIndex, offsetBy: name.count)] == UInt8(ascii: "?"))
    }
}

/// Flushes before a close and tells ``AdmissionFastPath`` to read no more requests: the
/// connection-state handler closes a connection when its last answer is written (graceful
/// shutdown, idle timeout), and the fast path may not have flushed that answer yet.
final class FlushBeforeClose: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPResponsePart

    private let fastPath: AdmissionFastPath

    init(fastPath: AdmissionFastPath) {
        self.fastPath = fastPath
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode != .input {
            fastPath.connectionClosing()
            context.flush()
        }
        context.close(mode: mode, promise: promise)
    }
}

/// The `Date` header value (RFC 9110 IMF-fixdate), formatted at most once a second.
struct HTTPDate {
    private var second = time_t(-1)
    private var text = ""

    /// The current time, formatted (for answers off the event loop, which have no cache).
    static var now: String { format(time(nil)) }

    mutating func current() -> String {
        let now = time(nil)
        if now != second {
            second = now
            text = Self.format(now)
        }
        return text
    }

    static func format(_ seconds: time_t) -> String {
        var seconds = seconds
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return
            "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

/// NIOHTTPTypesHTTP1's `HTTP1ToHTTPServerCodec`, without parsing every request target as a URL.
///
/// That codec runs each target through Foundation's `URLComponents` to turn an absolute-form
/// target (`http://host/path`) into a path; for the origin-form targets clients send
/// (`/mutate?timeout=10s`) it keeps the target as it is, after a parse that cost the webhook a
/// few percent of its CPU and kept Foundation's URL code in memory. This one keeps origin-form
/// targets without parsing them and hands every other form to the same conversion.
final class OriginFormCodec: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            do {
                context.fireChannelRead(wrapInboundOut(.head(try Self.request(head))))
            } catch {
                context.fireErrorCaught(error)
            }
        case .body(let body):
            context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end(let trailers):
            context.fireChannelRead(wrapInboundOut(.end(trailers.map { HTTPFields($0, splitCookie: false) })))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            context.write(wrapOutboundOut(.head(HTTPResponseHead(response))), promise: promise)
        case .body(let body):
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: promise)
        case .end(let trailers):
            context.write(wrapOutboundOut(.end(trailers.map(HTTPHeaders.init))), promise: promise)
        }
    }

    /// The request as `HTTPRequest(head, secure: false, splitCookie: false)` converts it (Hummingbird
    /// sets `secure: false` over TLS too).
    static func request(_ head: HTTPRequestHead) throws -> HTTPRequest {
        guard head.uri.utf8.first == UInt8(ascii: "/") else {
            return try HTTPRequest(head, secure: false, splitCookie: false)
        }
        return HTTPRequest(
            method: try HTTPRequest.Method(head.method), scheme: "http", authority: head.headers["Host"].first,
            path: head.uri, headerFields: HTTPFields(head.headers, splitCookie: false))
    }
}

/// Gathers the writes between two flushes (an answer's HTTP head and body, or a batch of
/// answers) into one buffer for TLS, which seals every write in a record of its own: one record
/// per answer instead of two, so one encryption and one record header less per answer. A
/// gathered buffer stops growing at a record's 16 KiB; file regions and larger writes pass as
/// they are, in order.
final class WriteCoalescer: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    /// The most plaintext a TLS record holds.
    static let recordSize = 16 * 1024

    private var gathered: ByteBuffer?
    /// Completed when `gathered` is written; the promises of the writes in it follow it.
    private var promise: EventLoopPromise<Void>?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .byteBuffer(var buffer) = unwrapOutboundIn(data) else {
            writeGathered(context: context)
            context.write(data, promise: promise)
            return
        }
        if gathered == nil {
            gathered = buffer
        } else if gathered!.readableBytes + buffer.readableBytes <= Self.recordSize {
            gathered!.writeBuffer(&buffer)
        } else {
            writeGathered(context: context, startingNext: buffer)
        }
        if let promise {
            if let first = self.promise {
                first.futureResult.cascade(to: promise)
            } else {
                self.promise = promise
            }
        }
    }

    func flush(context: ChannelHandlerContext) {
        writeGathered(context: context)
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        // In order: what was written goes before the close (and fails with it if unflushed).
        writeGathered(context: context)
        context.close(mode: mode, promise: promise)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // Only when the channel has closed: an unflushed write fails, as it would without us.
        gathered = nil
        promise?.fail(ChannelError.ioOnClosedChannel)
        promise = nil
    }

    /// Writes what is gathered on, `next` (if any) starting the next gathering first: a write
    /// from a callback of the written promise then goes after it, in order.
    private func writeGathered(context: ChannelHandlerContext, startingNext next: ByteBuffer? = nil) {
        let (buffer, promise) = (gathered, self.promise)
        (gathered, self.promise) = (next, nil)
        if let buffer {
            context.write(wrapOutboundOut(.byteBuffer(buffer)), promise: promise)
        }
    }
}
