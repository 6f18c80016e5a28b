import NIOCore
import NIOPosix
import NIOSSL

/// A TLS connection that sends raw bytes, for what an HTTP client library will not do:
/// announce a body and stop sending it, hold a request half-sent across a shutdown,
/// or watch the server close an idle keep-alive connection.
final class RawTLSConnection {
    private var inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var buffer: [UInt8] = []

    private init(
        inbound: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator,
        outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    ) {
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Connects to 127.0.0.1:`port`, runs `body`, then closes the connection.
    static func with<T>(port: Int, tls: TLSConfiguration, _ body: (RawTLSConnection) async throws -> T) async throws
        -> T
    {
        var tls = tls
        // No SNI and an IP URL, like kube-apiserver; the trust roots are still checked.
        tls.certificateVerification = .noHostnameVerification
        let context = try NIOSSLContext(configuration: tls)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: nil))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        var result: T?
        do {
            try await channel.executeThenClose { inbound, outbound in
                result = try await body(RawTLSConnection(inbound: inbound.makeAsyncIterator(), outbound: outbound))
            }
        } catch let error as ChannelError where error == .ioOnClosedChannel || error == .alreadyClosed {
            // The server closed first (what several tests wait for); closing our end then fails.
            guard result != nil else { throw error }
        }
        return result!
    }

    func send(_ bytes: [UInt8]) async throws {
        try await outbound.write(ByteBuffer(bytes: bytes))
    }

    func send(_ text: String) async throws {
        try await send(Array(text.utf8))
    }

    /// Reads one HTTP/1.1 response with a Content-Length body.
    func readResponse() async throws -> SimpleResponse {
        while true {
            if let response = SimpleResponse.take(from: &buffer) { return response }
            guard try await fill() else { throw RawError.closedEarly }
        }
    }

    /// True when the server closes the connection (after any bytes still in flight).
    func waitForClose() async -> Bool {
        do {
            while try await fill() {}
            return true
        } catch {
            // A TLS close without close_notify is still a close.
            return true
        }
    }

    private func fill() async throws -> Bool {
        guard let chunk = try await inbound.next() else { return false }
        buffer.append(contentsOf: chunk.readableBytesView)
        return true
    }

    enum RawError: Error {
        case closedEarly
    }
}
