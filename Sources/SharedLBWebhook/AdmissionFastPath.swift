import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

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
