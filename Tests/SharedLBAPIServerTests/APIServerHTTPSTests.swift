import AsyncHTTPClient
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import SharedLBAPIServer
import SharedLBCore
import Testing

@Suite("The API test server over HTTPS")
struct APIServerHTTPSTests {
    /// Runs an API server on 127.0.0.1 and an HTTP client that trusts its CA.
    func withServer(
        _ body: @Sendable (_ url: String, _ server: APIServer, _ client: HTTPClient) async throws -> Void
    ) async throws {
        var logger = Logger(label: "test.apiserver")
        logger.logLevel = .warning
        let handler = APIHandler(token: "t0ken", admission: [InProcessAdmission()])
        try await APIServer.withRunning(handler: handler, logger: logger) { server in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(server.caCertificatePEM.utf8)))
            tls.shutdownTimeout = .seconds(1)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(tlsConfiguration: tls))
            do {
                try await body(await server.url, server, client)
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    func send(
        _ client: HTTPClient, _ url: String, method: HTTPMethod = .GET, token: String? = "t0ken", body: String? = nil
    ) async throws -> (Int, JSONValue, HTTPHeaders) {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), try JSONParser.parse(Array(bytes.readableBytesView)), response.headers)
    }

    @Test("authentication, a converted create, a list, and compact JSON bodies ending in a newline")
    func rest() async throws {
        try await withServer { url, server, client in
            let (unauthorized, status, _) = try await send(
                client, "\(url)/api/v1/namespaces/default/services", token: nil)
            #expect(unauthorized == 401)
            #expect(status["reason"] == .string("Unauthorized"))
            let (created, service, headers) = try await send(
                client, "\(url)/api/v1/namespaces/default/services", method: .POST,
                body: #"{"metadata":{"name":"web"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}"#)
            #expect(created == 201)
            #expect(headers.first(name: "Content-Type") == "application/json")
            #expect(service["spec"]?["type"] == .string("ClusterIP"))
            #expect(service["metadata"]?["labels"]?["sharedlb.io/managed"] == .string("true"))
            let (listed, list, _) = try await send(
                client, "\(url)/api/v1/services?labelSelector=sharedlb.io%2Fmanaged%3Dtrue")
            #expect(listed == 200)
            #expect(list["items"]?.arrayValue?.count == 1)
            #expect(server.handler.requestLog.writes(to: "services") == 1)
        }
    }

    @Test("a watch streams one NDJSON line per event over chunked HTTP")
    func watch() async throws {
        try await withServer { url, server, client in
            let start = server.handler.store.revision
            var request = HTTPClientRequest(
                url: "\(url)/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=\(start)&timeoutSeconds=10"
            )
            request.headers.add(name: "Authorization", value: "Bearer t0ken")
            let response = try await client.execute(request, timeout: .seconds(20))
            #expect(response.status == .ok)
            for name in ["one", "two"] {
                let (code, _, _) = try await send(
                    client, "\(url)/api/v1/namespaces/default/configmaps", method: .POST,
                    body: #"{"metadata":{"name":"\#(name)"}}"#)
                #expect(code == 201)
            }
            var buffer: [UInt8] = []
            var events: [JSONValue] = []
            for try await chunk in response.body {
                buffer += chunk.readableBytesView
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    events.append(try JSONParser.parse(buffer[..<newline]))
                    buffer.removeSubrange(...newline)
                }
                if events.count == 2 { break }
            }
            #expect(events.map { $0["type"] } == [.string("ADDED"), .string("ADDED")])
            #expect(events.map { $0["object"]?["metadata"]?["name"] } == [.string("one"), .string("two")])
            #expect(events[0]["object"]?["kind"] == .string("ConfigMap"))
        }
    }
}
