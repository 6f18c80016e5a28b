import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
