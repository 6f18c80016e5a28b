import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import SharedLBCore
import Testing

@testable import SharedLBWebhook

/// The webhook's HTTP/1.1 channel on an embedded channel: raw request bytes in, response bytes out,
/// with the event loop's tasks run only when a test says so.
@Suite("Admission fast path")
struct AdmissionFastPathTests {
    @Test("a review is answered from the pipeline and flushed after the event loop's turn")
    func answersAfterTheTurn() throws {
        let body = try reviewBody("01-apply-lb-plain")
        let metrics = WebhookMetrics()
        let channel = try Self.channel(metrics: metrics)
        try channel.writeInbound(ByteBuffer(bytes: Self.request(body)))
        // Written but not flushed: the flush waits for the loop's other ready connections.
        #expect(try channel.readOutbound(as: IOData.self) == nil)
        channel.embeddedEventLoop.run()
        let responses = try Self.responses(channel)
        #expect(responses.map(\.status) == [200])
        #expect(
            responses.first?.body == (try AdmissionReviewer(policy: ConversionPolicy()).review(body)).responseBody())
        #expect(responses.first?.header("date")?.hasSuffix(" GMT") == true)
        #expect(
            String(decoding: metrics.exposition(), as: UTF8.self).contains("sharedlb_webhook_in_flight_requests 0.0"))
        #expect(channel.isActive)
    }

    @Test("pipelined reviews are answered in order, all flushed at the end of the turn")
    func pipelined() throws {
        let first = try reviewBody("01-apply-lb-plain")
        let second = Array(
            #"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"p-2","kind":{"group":"","version":"v1","kind":"ConfigMap"},"operation":"CREATE","object":{}}}"#
                .utf8)
        let channel = try Self.channel()
        try channel.writeInbound(
            ByteBuffer(bytes: Self.request(first, path: "/mutate?timeout=10s") + Self.request(second)))
        #expect(try channel.readOutbound(as: IOData.self) == nil)
        channel.embeddedEventLoop.run()
        let responses = try Self.responses(channel)
        #expect(responses.map(\.status) == [200, 200])
        #expect(responses.last?.text.contains(#""uid":"p-2""#) == true)
        #expect(responses.first?.text.contains(#""patch":"#) == true)
    }

    @Test("requests split anywhere get the same answers as when they arrive whole")
    func anySplit() throws {
        let body = try reviewBody("01-apply-lb-plain")
        let expected = try AdmissionReviewer(policy: ConversionPolicy()).review(body).responseBody()
        let bytes = Self.request(body) + Self.request(Array("{}".utf8)) + Self.request(body, path: "/mutate?timeout=1s")
        var seed: UInt64 = 42  // a linear congruential sequence: a failing split replays
        for _ in 0..<50 {
            let channel = try Self.channel()
            var rest = bytes[...]
            while !rest.isEmpty {
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let piece = rest.prefix(Int(seed >> 33) % 700 + 1)
                try channel.writeInbound(ByteBuffer(bytes: piece))
                rest = rest.dropFirst(piece.count)
            }
            channel.embeddedEventLoop.run()
            let responses = try Self.responses(channel)
            #expect(responses.map(\.status) == [200, 400, 200])
            #expect(responses.first?.body == expected && responses.last?.body == expected)
        }
    }

    @Test("a graceful shutdown between an answer and its flush still sends the answer")
    func quiesceBeforeFlush() throws {
        let body = try reviewBody("01-apply-lb-plain")
        let channel = try Self.channel()
        try channel.writeInbound(ByteBuffer(bytes: Self.request(body)))
        // Hummingbird's connection-state handler closes a connection with no request in progress.
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        #expect(try Self.responses(channel).map(\.status) == [200])
        #expect(!channel.isActive)
    }

    @Test("Connection: close gets its answer, then our side closes and no more requests are read")
    func connectionClose() throws {
        let body = try reviewBody("01-apply-lb-plain")
        let metrics = WebhookMetrics()
        let channel = try Self.channel(metrics: metrics)
        let closes = CloseRecorder()
        try channel.pipeline.syncOperations.addHandler(closes, position: .first)
        try channel.writeInbound(ByteBuffer(bytes: Self.request(body, extraHeaders: "Connection: close\r\n")))
        #expect(try Self.responses(channel).map(\.status) == [200])
        // As Hummingbird does: a half-close, reading on until the client closes its side.
        #expect(closes.modes == [.output])
        #expect(channel.isActive)
        #expect(metrics.answered == 1)
    }

    @Test("after a request Hummingbird answers with a close, no review is answered here")
    func handedOnClose() throws {
        let body = try reviewBody("01-apply-lb-plain")
        let metrics = WebhookMetrics()
        let channel = try Self.channel(metrics: metrics)
        try Self.handOnHealthCheck(channel, extraHeaders: "Connection: close\r\n")
        #expect(try Self.responses(channel).map(\.status) == [200])
        #expect(try Self.handedOnHeads(channel) == 1)
        #expect(throws: (any Error).self) {
            // NIO's decoder refuses bytes after a request that closes the connection; nothing is answered.
            try channel.writeInbound(ByteBuffer(bytes: Self.request(body)))
        }
        channel.embeddedEventLoop.run()
        #expect(try Self.responses(channel).isEmpty)
        #expect(metrics.answered == 0)
    }

    @Test("a body announced too large is refused before it arrives; the connection goes on")
    func refusedEarly() throws {
        let channel = try Self.channel(maximumBodySize: 1024)
        let head = "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2048\r\n\r\n"
        try channel.writeInbound(ByteBuffer(string: head))
        channel.embeddedEventLoop.run()
        let refused = try Self.responses(channel)
        #expect(refused.map(\.status) == [413])
        #expect(refused.first?.text.contains("larger than 1024 bytes") == true)
        // The rest of the refused body is dropped; the next request is read as a request.
        try channel.writeInbound(ByteBuffer(repeating: UInt8(ascii: " "), count: 2048))
        try channel.writeInbound(ByteBuffer(bytes: Self.request(Array("{}".utf8))))
        channel.embeddedEventLoop.run()
        let next = try Self.responses(channel)
        #expect(next.map(\.status) == [400])
        #expect(next.first?.text.contains("AdmissionReview") == true)
    }

    @Test(
        "a chunked review, one over 1 MiB and other requests go on to Hummingbird, and so does a review behind them",
        arguments: [
            "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
            "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \((1 << 20) + 1)\r\n\r\n"
                + String(repeating: " ", count: (1 << 20) + 1),
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /mutate HTTP/1.1\r\nHost: x\r\n\r\n",
        ])
    func handedOn(_ request: String) throws {
        let body = try reviewBody("01-apply-lb-plain")
        let metrics = WebhookMetrics()
        let channel = try Self.channel(metrics: metrics)
        try channel.writeInbound(ByteBuffer(string: request))
        try channel.writeInbound(ByteBuffer(bytes: Self.request(body)))
        channel.embeddedEventLoop.run()
        // Nothing answered here; both requests went on to Hummingbird (not running here).
        #expect(try Self.responses(channel).isEmpty)
        #expect(try Self.handedOnHeads(channel) == 2)
        #expect(metrics.answered == 0)
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("in_flight_requests 0.0"))
    }

    @Test("once Hummingbird has answered what it was handed, reviews are answered here again")
    func afterHandedOn() throws {
        let body = try reviewBody("01-apply-lb-plain")
        let metrics = WebhookMetrics()
        let channel = try Self.channel(metrics: metrics)
        try Self.handOnHealthCheck(channel)
        #expect(try Self.responses(channel).map(\.status) == [200])
        try channel.writeInbound(ByteBuffer(bytes: Self.request(body)))
        channel.embeddedEventLoop.run()
        #expect(try Self.responses(channel).map(\.status) == [200])
        #expect(metrics.answered == 1)
    }

    @Test("a review cut short by a closed connection or an error is counted as refused, not left in flight")
    func cutShort() throws {
        let body = try reviewBody("01-apply-lb-plain")
        for error in [false, true] {
            let metrics = WebhookMetrics()
            let channel = try Self.channel(metrics: metrics)
            try channel.writeInbound(ByteBuffer(bytes: Self.request(body).dropLast(100)))
            #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("in_flight_requests 1.0"))
            if error {
                channel.pipeline.fireErrorCaught(Unexpected.truncated)  // a TLS or decoding error, say
                // It goes on to Hummingbird (which answers 400 and closes); nothing more is read here.
                #expect(throws: Unexpected.truncated) { try channel.throwIfErrorCaught() }
                try channel.writeInbound(ByteBuffer(bytes: Self.request(body).suffix(100)))  // the rest of the review
                channel.embeddedEventLoop.run()
                #expect(try Self.responses(channel).isEmpty)
                #expect(try Self.handedOnHeads(channel) == 0)
            } else {
                // Closed from the socket's end (a reset, say), past the handlers that see closes.
                try channel.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self).close(promise: nil)
                channel.embeddedEventLoop.run()
            }
            let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
            #expect(exposition.contains("in_flight_requests 0.0"))
            #expect(exposition.contains(#"requests_total{operation="other",result="rejected"} 1"#))
            #expect(metrics.answered == 1)
            _ = try? channel.finish()
            #expect(metrics.answered == 1)
        }
    }

    @Test("while the connection cannot write, reads wait: answers are not made faster than they are taken")
    func backpressure() throws {
        let reads = ReadCounter()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([reads, AdmissionFastPath(responder: Self.responder())])
        channel.read()
        #expect(reads.count == 1)
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        channel.read()
        #expect(reads.count == 1)
        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        #expect(reads.count == 2)
    }

    @Test(
        "only POST /mutate, with or without a query, is a review path",
        arguments: [
            ("/mutate", true), ("/mutate?timeout=10s", true), ("/mutate?", true), ("/mutatex", false),
            ("/mutat", false), ("/", false), ("/mutate/", false), ("", false),
        ])
    func mutatePath(_ path: String, _ expected: Bool) {
        #expect(AdmissionFastPath.isMutate(path) == expected)
    }

    @Test(
        "origin-form request heads convert as NIOHTTPTypesHTTP1 converts them, without its URL parse",
        arguments: ["/mutate", "/mutate?timeout=10s", "/", "//host/path", "/%zz?a=%", "/a:b@c"])
    func originForm(_ target: String) throws {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target)
        head.headers.add(name: "Host", value: "example:8443")
        head.headers.add(name: "Cookie", value: "a=1; b=2")
        head.headers.add(name: "Content-Type", value: "application/json")
        let expected = try HTTPRequest(head, secure: false, splitCookie: false)
        let converted = try OriginFormCodec.request(head)
        #expect(converted.path == expected.path)
        #expect(converted == expected)
    }

    @Test("a target that is not origin-form is converted by NIOHTTPTypesHTTP1: absolute-form becomes a path")
    func absoluteForm() throws {
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "https://example:8443/mutate?timeout=10s")
        #expect(try OriginFormCodec.request(head).path == "/mutate?timeout=10s")
    }

    @Test("writes between flushes reach TLS as one buffer of at most a record, in order, promises kept")
    func coalescing() throws {
        let tls = RecordingOutbound()  // stands where NIOSSLHandler is
        let channel = EmbeddedChannel(handlers: [tls, WriteCoalescer()])
        var completed: [String] = []
        func write(_ text: String) {
            let promise = channel.eventLoop.makePromise(of: Void.self)
            promise.futureResult.assumeIsolated().whenSuccess { completed.append(String(text.prefix(4))) }
            channel.pipeline.syncOperations.write(NIOAny(IOData.byteBuffer(ByteBuffer(string: text))), promise: promise)
        }
        write("head ")
        write("body")
        #expect(tls.events.isEmpty)
        channel.flush()
        #expect(tls.events == ["head body", "flush"])
        #expect(completed == ["head", "body"])
        // A record holds 16 KiB: what would grow past it starts a new buffer.
        let big = String(repeating: "x", count: 10_000)
        write(big)
        write(big)
        write("tail")
        channel.flush()
        #expect(tls.events.dropFirst(2) == ["10000 bytes", "10004 bytes", "flush"])
        #expect(completed.count == 5)
        // A write larger than a record passes as it is.
        write(big + big)
        channel.flush()
        #expect(tls.events.suffix(2) == ["20000 bytes", "flush"])
        // A close passes what is gathered on first.
        write("late")
        channel.close(promise: nil)
        #expect(tls.events.suffix(2) == ["late", "close"])
    }

    @Test("the Date header is an IMF-fixdate")
    func date() {
        #expect(HTTPDate.format(784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(1_798_761_599) == "Thu, 31 Dec 2026 23:59:59 GMT")
    }

    // MARK: - Helpers

    private static func channel(metrics: WebhookMetrics = WebhookMetrics(), maximumBodySize: Int = 1 << 20) throws
        -> EmbeddedChannel
    {
        let responder = Self.responder(metrics: metrics, maximumBodySize: maximumBodySize)
        // Hummingbird's request loop does not run on an embedded channel: what it is handed waits.
        let webhookChannel = WebhookHTTP1Channel(responder: { _, _, _ in }, admission: responder)
        let channel = EmbeddedChannel()
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 8443)).wait()
        _ = try webhookChannel.setup(channel: channel, logger: Logger(label: "test")).wait()
        return channel
    }

    private static func responder(metrics: WebhookMetrics = WebhookMetrics(), maximumBodySize: Int = 1 << 20)
        -> WebhookResponder
    {
        WebhookResponder(
            reviewer: AdmissionReviewer(policy: ConversionPolicy()), metrics: metrics, readiness: Readiness(),
            maximumBodySize: maximumBodySize, servesMetrics: false, logger: Logger(label: "test"))
    }

    private static func request(_ body: [UInt8], path: String = "/mutate", extraHeaders: String = "") -> [UInt8] {
        Array(
            "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\(extraHeaders)\r\n"
                .utf8) + body
    }

    /// Sends `GET /healthz`, which goes on to Hummingbird, and writes Hummingbird's answer to it
    /// from the end of the pipeline, as its response writer does.
    private static func handOnHealthCheck(_ channel: EmbeddedChannel, extraHeaders: String = "") throws {
        try channel.writeInbound(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: x\r\n\(extraHeaders)\r\n"))
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "0"])))
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    /// Request heads that went past the fast path towards Hummingbird.
    private static func handedOnHeads(_ channel: EmbeddedChannel) throws -> Int {
        var heads = 0
        while let part = try channel.readInbound(as: HTTPRequestPart.self) {
            if case .head = part { heads += 1 }
        }
        return heads
    }

    /// Records closes at the socket end of the pipeline; an output close stops there, as a
    /// half-closed socket stays open.
    final class CloseRecorder: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var modes: [CloseMode] = []
        func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
            modes.append(mode)
            if mode == .output { promise?.succeed() } else { context.close(mode: mode, promise: promise) }
        }
    }

    /// Counts the reads that reach the socket end of the pipeline.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = ByteBuffer
        var count = 0
        func read(context: ChannelHandlerContext) {
            count += 1
            context.read()
        }
    }

    /// Every response flushed so far, parsed.
    private static func responses(_ channel: EmbeddedChannel) throws -> [SimpleResponse] {
        var bytes: [UInt8] = []
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = part else { throw Unexpected.fileRegion }
            bytes += buffer.readableBytesView
        }
        var responses: [SimpleResponse] = []
        while let response = SimpleResponse.take(from: &bytes) { responses.append(response) }
        guard bytes.isEmpty else { throw Unexpected.truncated }
        return responses
    }

    enum Unexpected: Error { case fileRegion, truncated }
}

/// Records the outbound events that reach it: buffers (their text, or their size when large),
/// flushes and closes.
private final class RecordingOutbound: ChannelOutboundHandler {
    typealias OutboundIn = IOData

    private(set) var events: [String] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .byteBuffer(let buffer) = unwrapOutboundIn(data) {
            events.append(buffer.readableBytes > 100 ? "\(buffer.readableBytes) bytes" : String(buffer: buffer))
        }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        events.append("flush")
        context.flush()
    }

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        events.append("close")
        context.close(mode: mode, promise: promise)
    }
}
