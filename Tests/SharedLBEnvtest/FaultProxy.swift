import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization

/// An HTTPS proxy in front of a real kube-apiserver that injects the faults a busy or failing
/// control plane produces: 429 with Retry-After, 500s, latency, watches cut mid-stream, and
/// watches that end at once with `410 Expired` (as after etcd compaction). Clients authenticate
/// with a bearer token, which the proxy passes on; its certificate is issued by the control
/// plane's CA, so a client trusts it as it trusts the API server.
///
/// ```swift
/// try await FaultProxy.run(plane: plane, logger: logger) { proxy in
///     proxy.inject(.init(method: "PATCH", path: "/configmaps", count: 3, action: .status(500)))
///     // point a client at proxy.url
/// }
/// ```
public final class FaultProxy: Sendable {
    /// One kind of fault, for `count` requests that match.
    public struct Fault: Sendable {
        public enum Action: Sendable {
            /// Answer with this code and a `Status` body (429 adds `Retry-After`).
            case status(Int, retryAfterSeconds: Int? = nil)
            /// Wait, then pass the request on.
            case delay(Duration)
            /// Pass a watch on, then drop the connection mid-stream at its first event after this long.
            case cutWatch(after: Duration)
            /// Answer a watch with one `ERROR` event, `410 Expired`, and end it.
            case expireWatch
        }

        /// `GET`, `PATCH`, ...; nil for any.
        public var method: String?
        /// A part of the path, e.g. `/configmaps`; nil for any.
        public var path: String?
        /// Only watches (true), only other requests (false), or both (nil).
        public var watch: Bool?
        /// A part of the User-Agent (one client among several); nil for any.
        public var userAgent: String?
        public var count: Int
        public var action: Action

        public init(
            method: String? = nil, path: String? = nil, watch: Bool? = nil, userAgent: String? = nil, count: Int,
            action: Action
        ) {
            self.method = method
            self.path = path
            self.watch = watch
            self.userAgent = userAgent
            self.count = count
            self.action = action
        }

        func matches(method: String, path: String, isWatch: Bool, userAgent: String) -> Bool {
            (self.method == nil || self.method == method) && (self.path.map { path.contains($0) } ?? true)
                && (watch == nil || watch == isWatch) && (self.userAgent.map { userAgent.contains($0) } ?? true)
        }
    }

    /// `https://127.0.0.1:PORT`
    public let url: String
    private let faults: Mutex<[Fault]>
    private let applied = Mutex<[String]>([])

    private init(url: String) {
        self.url = url
        faults = Mutex([])
    }

    /// Adds a fault; faults are tried in the order they were added.
    public func inject(_ fault: Fault) {
        faults.withLock { $0.append(fault) }
    }

    public func clearFaults() {
        faults.withLock { $0.removeAll() }
    }

    /// Every fault applied so far, as `METHOD path → action`.
    public var appliedFaults: [String] { applied.withLock { $0 } }

    /// The first fault for this request, used up by one.
    func take(method: String, path: String, isWatch: Bool, userAgent: String) -> Fault.Action? {
        let action: Fault.Action? = faults.withLock { faults in
            guard
                let index = faults.firstIndex(where: {
                    $0.count > 0 && $0.matches(method: method, path: path, isWatch: isWatch, userAgent: userAgent)
                })
            else { return nil }
            faults[index].count -= 1
            return faults[index].action
        }
        if let action { applied.withLock { $0.append("\(method) \(path) → \(action)") } }
        return action
    }

    /// Runs a proxy to `plane`'s API server until `body` returns.
    public static func run<T: Sendable>(
        plane: ControlPlane, logger: Logger, _ body: @Sendable (FaultProxy) async throws -> T
    ) async throws -> T {
        let serving = try plane.pki.issuer.issue(commonName: "fault-proxy", ipAddresses: [[127, 0, 0, 1]])
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(serving.certificatePEM.utf8)).map {
                .certificate($0)
            },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serving.keyPEM.utf8), format: .pem)))
        tls.applicationProtocols = ["http/1.1"]
        tls.shutdownTimeout = .seconds(1)
        var upstreamConfiguration = HTTPClient.Configuration(
            tlsConfiguration: try ClientConfigurationTLS.trusting(plane.caCertificatePEM))
        upstreamConfiguration.httpVersion = .http1Only
        upstreamConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        upstreamConfiguration.timeout.read = .seconds(330)
        let upstream = HTTPClient(eventLoopGroupProvider: .singleton, configuration: upstreamConfiguration)
        let (listening, listened) = AsyncStream.makeStream(of: Int.self)
        let proxyBox = Mutex<FaultProxy?>(nil)
        let responder = ProxyResponder(upstream: upstream, target: plane.server) { method, path, isWatch, userAgent in
            proxyBox.withLock { $0 }?.take(method: method, path: path, isWatch: isWatch, userAgent: userAgent)
        }
        let application = Application(
            responder: responder, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { channel in listened.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
        let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try? await group.run() }
            var ports = listening.makeAsyncIterator()
            let port = await ports.next() ?? 0
            let proxy = FaultProxy(url: "https://127.0.0.1:\(port)")
            proxyBox.withLock { $0 = proxy }
            let result: Result<T, any Error>
            do {
                result = .success(try await body(proxy))
            } catch {
                result = .failure(error)
            }
            await group.triggerGracefulShutdown()
            // Ends the watches still proxied (a graceful shutdown would wait for each to time out).
            try? await upstream.shutdown()
            await tasks.waitForAll()
            return result
        }
        return try result.get()
    }
}

/// TLS that trusts exactly one CA (PEM).
enum ClientConfigurationTLS {
    static func trusting(_ pem: String) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(pem.utf8)))
        return tls
    }
}

/// Passes each request to the API server, unless a fault answers it instead.
struct ProxyResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let upstream: HTTPClient
    let target: String
    let fault:
        @Sendable (_ method: String, _ path: String, _ isWatch: Bool, _ userAgent: String) -> FaultProxy.Fault.Action?

    func respond(to request: Request, context: Context) async throws -> Response {
        let isWatch = request.uri.queryParameters["watch"].map { $0 == "true" || $0 == "1" } ?? false
        let path = request.uri.path
        let action = fault(request.method.rawValue, path, isWatch, request.headers[.userAgent] ?? "")
        switch action {
        case .status(let code, let retryAfter)?:
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            if let retryAfter { headers[.retryAfter] = String(retryAfter) }
            let reason = code == 429 ? "TooManyRequests" : code >= 500 ? "InternalError" : "BadRequest"
            let body =
                #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"injected by the fault proxy","reason":"\#(reason)","code":\#(code)}"#
            return Response(
                status: .init(code: code), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        case .expireWatch?:
            var headers = HTTPFields()
            headers[.contentType] = "application/json"
            let event =
                #"{"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 1 (2)","reason":"Expired","code":410}}"#
                + "\n"
            return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: event)))
        case .delay(let duration)?:
            try await Task.sleep(for: duration)
        case .cutWatch?, nil:
            break
        }
        var forwarded = HTTPClientRequest(url: target + request.uri.description)
        forwarded.method = .init(rawValue: request.method.rawValue)
        for field in request.headers where ![.connection, .contentLength].contains(field.name) {
            forwarded.headers.add(name: field.name.rawName, value: field.value)
        }
        let body = try await request.body.collect(upTo: 16 << 20)
        if body.readableBytes > 0 { forwarded.body = .bytes(body) }
        let response = try await upstream.execute(forwarded, timeout: .seconds(isWatch ? 330 : 60))
        var headers = HTTPFields()
        for header in response.headers
        where !["connection", "transfer-encoding", "content-length"].contains(header.name.lowercased()) {
            if let name = HTTPField.Name(header.name) { headers.append(HTTPField(name: name, value: header.value)) }
        }
        let cutAfter: Duration? = if case .cutWatch(let after)? = action { after } else { nil }
        let stream = response.body
        return Response(
            status: .init(code: Int(response.status.code)), headers: headers,
            body: ResponseBody { writer in
                let deadline = cutAfter.map { ContinuousClock.now + $0 }
                for try await chunk in stream {
                    try await writer.write(chunk)
                    if let deadline, ContinuousClock.now >= deadline { throw WatchCut() }
                }
                try await writer.finish(nil)
            })
    }

    /// Ends a response without its last chunk: the client sees the connection drop mid-stream.
    struct WatchCut: Error {}
}
