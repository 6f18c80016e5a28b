import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import SharedLBCertificates
import SharedLBCore
import SharedLBWebhook
import Testing

/// Certificates minted at test time (committed certificates would expire).
struct TestPKI: Sendable {
    let directory: URL
    let bundle: CertificateBundle

    /// A fresh CA and a serving certificate for 127.0.0.1 and localhost, written to a temporary directory.
    static func make() throws -> TestPKI {
        let directory = FileManager.default.temporaryDirectory.appending(path: "sharedlb-test-\(UUID().uuidString)")
        let bundle = try Self.issue()
        try bundle.write(to: directory)
        return TestPKI(directory: directory, bundle: bundle)
    }

    static func issue() throws -> CertificateBundle {
        try CertificateAuthority.generate(commonName: "test-ca-\(UUID().uuidString.prefix(8))")
            .issue(ServingCertificateRequest(dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"]))
    }

    var certificatePath: String { directory.appending(path: "tls.crt").path }
    var keyPath: String { directory.appending(path: "tls.key").path }

    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}

/// A client TLS configuration that trusts exactly the given CAs.
func clientTLS(trusting bundles: [CertificateBundle], maximumVersion: TLSVersion? = nil, alpn: [String] = ["http/1.1"])
    throws -> TLSConfiguration
{
    var tls = TLSConfiguration.makeClientConfiguration()
    tls.trustRoots = .certificates(
        try bundles.flatMap { try NIOSSLCertificate.fromPEMBytes(Array($0.caCertificatePEM.utf8)) })
    tls.maximumTLSVersion = maximumVersion
    tls.applicationProtocols = alpn
    return tls
}

/// Runs the real webhook services in a ServiceGroup on 127.0.0.1, any free port.
struct RunningWebhook: Sendable {
    let pki: TestPKI
    let port: Int
    let metricsPort: Int?
    let server: WebhookServer
    let group: ServiceGroup
    let certificateChecks: AsyncStream<CertificateStore.ReloadOutcome>

    var baseURL: String { "https://127.0.0.1:\(port)" }

    /// Runs `body` against a webhook serving a freshly minted certificate (`webhook.pki`).
    @discardableResult
    static func with<T: Sendable>(
        metricsListener: Bool = false,
        reloadInterval: Duration = .seconds(3600),
        http2: Bool = false,
        shutdownDelay: Duration = .zero,
        idleTimeout: Duration? = nil,
        _ body: @Sendable (RunningWebhook) async throws -> T
    ) async throws -> T {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        return try await with(
            pki: pki, metricsListener: metricsListener, reloadInterval: reloadInterval, http2: http2,
            shutdownDelay: shutdownDelay, idleTimeout: idleTimeout, body)
    }

    @discardableResult
    static func with<T: Sendable>(
        pki: TestPKI,
        metricsListener: Bool = false,
        reloadInterval: Duration = .seconds(3600),
        http2: Bool = false,
        shutdownDelay: Duration = .zero,
        idleTimeout: Duration? = nil,
        _ body: @Sendable (RunningWebhook) async throws -> T
    ) async throws -> T {
        var logger = Logger(label: "test.webhook")
        logger.logLevel = .warning
        let (listening, listeningContinuation) = AsyncStream.makeStream(of: (String, Int).self)
        let (checks, checksContinuation) = AsyncStream.makeStream(of: CertificateStore.ReloadOutcome.self)
        var configuration = WebhookConfiguration(
            host: "127.0.0.1", port: 0, certificatePath: pki.certificatePath, keyPath: pki.keyPath, http2: http2,
            metricsHost: metricsListener ? "127.0.0.1" : nil, metricsPort: metricsListener ? 0 : nil,
            certificateReloadInterval: reloadInterval, shutdownDelay: shutdownDelay)
        if let idleTimeout { configuration.idleTimeout = idleTimeout }
        let server = WebhookServer(
            configuration: configuration,
            logger: logger,
            onListening: { scheme, port in listeningContinuation.yield((scheme, port)) },
            onCertificateCheck: { checksContinuation.yield($0) }
        )
        let group = ServiceGroup(configuration: .init(services: server.services, logger: logger))
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                try await group.run()
                return nil
            }
            var ports: [String: Int] = [:]
            for await (scheme, port) in listening {
                ports[scheme] = port
                if ports.count == (metricsListener ? 2 : 1) { break }
            }
            let running = RunningWebhook(
                pki: pki, port: ports["https"]!, metricsPort: ports["http"], server: server, group: group,
                certificateChecks: checks)
            let result: T
            do {
                result = try await body(running)
            } catch {
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        }
    }
}

/// An HTTP client for one test, shut down afterwards.
@discardableResult
func withHTTPClient<T>(
    tls: TLSConfiguration, httpVersion: HTTPClient.Configuration.HTTPVersion = .http1Only,
    _ body: (HTTPClient) async throws -> T
) async throws -> T {
    var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
    configuration.httpVersion = httpVersion
    // A failed handshake is retried until the connect timeout: keep it short.
    configuration.timeout.connect = .seconds(2)
    let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(client)
        try await client.shutdown()
        return result
    } catch {
        try? await client.shutdown()
        throw error
    }
}

struct SimpleResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var json: JSONValue {
        get throws { try JSONParser.parse(body) }
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// Takes one whole HTTP/1.1 response with a Content-Length body off the front of `bytes`;
    /// nil while it is incomplete.
    static func take(from bytes: inout [UInt8]) -> SimpleResponse? {
        let separator = Array("\r\n\r\n".utf8)
        guard let end = bytes.indices.first(where: { bytes[$0...].starts(with: separator) }) else { return nil }
        let lines = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\r\n").map(String.init)
        let status = Int(lines[0].split(separator: " ")[1]) ?? 0
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let length = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) } ?? 0
        let bodyStart = end + separator.count
        guard bytes.count >= bodyStart + length else { return nil }
        let body = Array(bytes[bodyStart..<(bodyStart + length)])
        bytes.removeFirst(bodyStart + length)
        return SimpleResponse(status: status, headers: headers, body: body)
    }
}

extension HTTPClient {
    func send(
        _ url: String, method: HTTPMethod = .POST, contentType: String? = "application/json", body: [UInt8]? = nil,
        closeConnection: Bool = false
    ) async throws -> SimpleResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if closeConnection { request.headers.add(name: "Connection", value: "close") }
        if let contentType { request.headers.add(name: "Content-Type", value: contentType) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response = try await execute(request, timeout: .seconds(20))
        let collected = try await response.body.collect(upTo: 16 << 20)
        return SimpleResponse(
            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
            body: Array(collected.readableBytesView))
    }
}

/// The AdmissionReview body as kube-apiserver sends it: compact single-line JSON.
func reviewBody(_ scenario: String) throws -> [UInt8] {
    let url = try #require(
        Bundle.module.url(forResource: "\(scenario).review", withExtension: "json", subdirectory: "Fixtures"))
    return Array(JSONWriter.encode(try JSONParser.parse(Array(try Data(contentsOf: url)))).utf8)
}

extension WebhookMetrics {
    /// Answers counted in `sharedlb_webhook_requests_total`, whatever their result.
    var answered: Int {
        Int(
            String(decoding: exposition(), as: UTF8.self).split(separator: "\n")
                .filter { $0.hasPrefix("sharedlb_webhook_requests_total{") }
                .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
                .reduce(0, +))
    }
}
