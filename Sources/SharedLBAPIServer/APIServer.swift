import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
public import Logging
import NIOCore
import NIOSSL
public import ServiceLifecycle
import SharedLBCertificates
import SharedLBCore

/// An in-process kube-apiserver for tests and the demo: HTTPS on 127.0.0.1 (any free port),
/// a certificate minted at start, bearer-token authentication, and ``APIHandler``'s REST semantics.
///
/// ```swift
/// let server = try APIServer(logger: logger)
/// // run try server.makeService() in a ServiceGroup; await server.url, then point a client at
/// // server.url with server.caCertificatePEM and server.token
/// ```
public struct APIServer: Sendable {
    public let handler: APIHandler
    /// PEM of the CA that signed the serving certificate (a kubeconfig's certificate-authority-data).
    public let caCertificatePEM: String
    public let token: String
    let certificate: CertificateBundle
    let host: String
    let port: Int
    let logger: Logger
    let listening: ListeningAddress
    let restarts: RestartSignal

    public init(
        handler: APIHandler? = nil, host: String = "127.0.0.1", port: Int = 0, token: String? = nil,
        logger: Logger
    ) throws {
        let token = token ?? handler?.token ?? UUID().uuidString
        self.token = token
        self.handler = handler ?? APIHandler(token: token)
        certificate = try CertificateAuthority.generate(commonName: "sharedlb-test-apiserver-ca")
            .issue(ServingCertificateRequest(dnsNames: ["localhost", "kubernetes.default.svc"], ipAddresses: [host]))
        caCertificatePEM = certificate.caCertificatePEM
        self.host = host
        self.port = port
        self.logger = logger
        listening = ListeningAddress()
        restarts = RestartSignal()
    }

    /// `https://127.0.0.1:PORT`, once the server listens.
    public var url: String {
        get async { "https://\(host):\(await listening.port())" }
    }

    /// The lifecycle service that runs the HTTPS server; ``restart()`` works while it runs.
    public func makeService() throws -> some Service {
        Serving(server: self)
    }

    struct Serving: Service {
        let server: APIServer

        func run() async throws {
            try await withGracefulShutdownHandler {
                try await server.serveUntilStopped(logger: server.logger)
            } onGracefulShutdown: {
                server.restarts.send(.stop)
            }
        }
    }

    func makeService(port: Int) throws -> some Service {
        let listening = self.listening
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(certificate.certificatePEM.utf8)).map {
                .certificate($0)
            },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(certificate.keyPEM.utf8), format: .pem)))
        configuration.applicationProtocols = ["http/1.1"]
        // Do not hold shutdown for NIOSSL's default 5 s waiting for a peer's close_notify.
        configuration.shutdownTimeout = .seconds(1)
        return Application(
            responder: APIResponder(handler: handler),
            server: try .tls(.http1(), tlsConfiguration: configuration),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await listening.set(channel.localAddress?.port ?? 0) },
            logger: logger
        )
    }
}

/// The bound port, awaited by whoever needs the URL.
actor ListeningAddress {
    private var bound: Int?
    private var waiters: [CheckedContinuation<Int, Never>] = []
    /// How many times a server started listening (restarts included).
    private(set) var generation = 0
    private var generationWaiters: [(after: Int, continuation: CheckedContinuation<Void, Never>)] = []

    func set(_ port: Int) {
        bound = port
        generation += 1
        for waiter in waiters { waiter.resume(returning: port) }
        waiters.removeAll()
        let ready = generationWaiters.filter { $0.after < generation }
        generationWaiters.removeAll { $0.after < generation }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// The server failed: release everyone waiting for it to listen.
    func fail() {
        for waiter in waiters { waiter.resume(returning: bound ?? 0) }
        waiters.removeAll()
        for waiter in generationWaiters { waiter.continuation.resume() }
        generationWaiters.removeAll()
    }

    func waitForGeneration(after previous: Int) async {
        if generation > previous { return }
        await withCheckedContinuation { generationWaiters.append((previous, $0)) }
    }

    func port() async -> Int {
        if let bound { return bound }
        return await withCheckedContinuation { waiters.append($0) }
    }
}

/// Adapts HTTP requests to ``APIHandler`` and streams watch responses as NDJSON chunks.
struct APIResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let handler: APIHandler

    func respond(to request: Request, context: Context) async throws -> Response {
        var query: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            query[String(key)] = String(value)
        }
        let authorization = request.headers[.authorization] ?? ""
        let body = try await request.body.collect(upTo: 16 << 20)
        let apiRequest = APIRequest(
            method: request.method.rawValue, path: request.uri.path, query: query,
            contentType: request.headers[.contentType],
            bearerToken: authorization.hasPrefix("Bearer ") ? String(authorization.dropFirst(7)) : nil,
            userAgent: request.headers[.userAgent], body: Array(body.readableBytesView))
        let response = await handler.handle(apiRequest)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-cache, private"
        for (name, value) in response.headers where name == "Retry-After" {
            headers[.retryAfter] = value
        }
        let status = HTTPResponse.Status(code: response.code)
        switch response.body {
        case .json(let document):
            var bytes: [UInt8] = []
            JSONWriter.write(document, into: &bytes)
            bytes.append(UInt8(ascii: "\n"))
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        case .watch(let watch):
            // One event per line and per chunk, as kube-apiserver streams them (fixture 17b).
            return Response(
                status: status, headers: headers,
                body: ResponseBody { writer in
                    try await watch.run { event in try await writer.write(ByteBuffer(bytes: event.line)) }
                    try await writer.finish(nil)
                })
        }
    }
}

extension APIServer {
    /// Runs an API server for the duration of `body` (tests, the demo), then shuts it down.
    /// Inside `body`, ``restart()`` plays a kube-apiserver restart.
    public static func withRunning<T: Sendable>(
        handler: APIHandler, logger: Logger, _ body: @Sendable (APIServer) async throws -> T
    ) async throws -> T {
        let server = try APIServer(handler: handler, token: handler.token, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await server.serveUntilStopped(logger: logger)
                return nil
            }
            _ = await server.url
            let result: Result<T, any Error>
            do {
                result = .success(try await body(server))
            } catch {
                result = .failure(error)
            }
            server.restarts.send(.stop)
            try await tasks.waitForAll()
            return try result.get()
        }
    }

    /// Like a kube-apiserver restart: requests in flight are answered, every watch is cut and
    /// every connection closed, the server is back on the same port with the same certificate,
    /// and all state is kept. Returns once the new server listens.
    public func restart() async {
        let generation = await listening.generation
        restarts.send(.restart)
        await listening.waitForGeneration(after: generation)
    }

    fileprivate func serveUntilStopped(logger: Logger) async throws {
        do {
            try await serveGenerations(logger: logger)
        } catch {
            // A server that failed on its own (a port that cannot be bound again): nobody may
            // wait for it to listen.
            await listening.fail()
            throw error
        }
    }

    private func serveGenerations(logger: Logger) async throws {
        let restarts = self.restarts
        var port = self.port
        var commands = restarts.commands.makeAsyncIterator()
        while true {
            let group = ServiceGroup(configuration: .init(services: [try makeService(port: port)], logger: logger))
            let command = try await withThrowingTaskGroup(of: RestartSignal.Command?.self) { inner in
                inner.addTask {
                    do {
                        try await group.run()
                    } catch {
                        // Not cancelled from outside: the server failed, which the loop must hear of.
                        if !Task.isCancelled { restarts.send(.failed) }
                        throw error
                    }
                    return nil
                }
                let command = await commands.next() ?? .stop
                if command == .stop || command == .restart {
                    // Like kube-apiserver on SIGTERM: no new connections, requests in flight
                    // answered, every watch ended (`WatchStream`), idle connections closed.
                    // Cancelling the server instead could drop a connection NIO had accepted but
                    // not yet handed over, which NIO traps on (apple/swift-nio#3481). A SIGKILL
                    // is the real control plane's `restartAPIServer`.
                    await group.triggerGracefulShutdown()
                }
                try await inner.waitForAll()
                return command
            }
            guard command == .restart else { return }
            port = await listening.port()
        }
    }
}

/// Tells the serving loop to restart or stop.
final class RestartSignal: Sendable {
    enum Command: Sendable { case restart, stop, failed }

    let commands: AsyncStream<Command>
    private let continuation: AsyncStream<Command>.Continuation

    init() {
        (commands, continuation) = AsyncStream.makeStream(of: Command.self)
    }

    func send(_ command: Command) {
        continuation.yield(command)
    }
}
