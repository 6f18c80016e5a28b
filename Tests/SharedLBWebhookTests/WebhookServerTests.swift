import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import SharedLBCore
import Testing

@testable import SharedLBWebhook

@Suite("Webhook over HTTPS")
struct WebhookServerTests {
    @Test("each captured review gets the same answer over HTTPS as from the pure reviewer")
    func fixturesOverHTTPS() async throws {
        try await RunningWebhook.with { webhook in
            try await withHTTPClient(tls: clientTLS(trusting: [webhook.pki.bundle])) { client in
                let reviewer = AdmissionReviewer(policy: ConversionPolicy())
                for scenario in [
                    "01-apply-lb-plain", "02-create-lb-allfields", "05-reapply-changed-port", "07-create-clusterip",
                    "12-update-real-lb",
                ] {
                    let body = try reviewBody(scenario)
                    // kube-apiserver appends ?timeout=5s: the route is the path alone.
                    let response = try await client.send("\(webhook.baseURL)/mutate?timeout=5s", body: body)
                    #expect(response.status == 200, "\(scenario)")
                    #expect(response.header("Content-Type") == "application/json")
                    #expect(response.body == (try reviewer.review(body)).responseBody(), "\(scenario)")
                }
                let metrics = try await client.send("\(webhook.baseURL)/metrics", method: .GET)
                let text = String(decoding: metrics.body, as: UTF8.self)
                #expect(text.contains(#"sharedlb_webhook_requests_total{operation="CREATE",result="converted"} 1"#))
                #expect(text.contains(#"sharedlb_webhook_requests_total{operation="CREATE",result="skipped"} 1"#))
                #expect(text.contains(#"sharedlb_webhook_requests_total{operation="UPDATE",result="skipped"} 1"#))
                #expect(text.contains(#"sharedlb_webhook_skipped_total{reason="load_balancer_class"} 1"#))
                #expect(text.contains(#"sharedlb_webhook_request_duration_seconds_bucket{le="0.005"}"#))
                #expect(text.contains(#"sharedlb_webhook_request_duration_seconds_bucket{le="0.025"}"#))
                #expect(text.contains(#"sharedlb_webhook_certificate_reloads_total{result="success"} 1"#))
            }
        }
    }

    @Test("bad requests get a clear status and a Status body")
    func badInput() async throws {
        try await RunningWebhook.with { webhook in
            try await withHTTPClient(tls: clientTLS(trusting: [webhook.pki.bundle])) { client in
                let url = "\(webhook.baseURL)/mutate"
                struct Case {
                    var name: String
                    var method: HTTPMethod
                    var contentType: String?
                    var body: [UInt8]?
                    var status: Int
                    var message: String

                    init(
                        _ name: String, _ method: HTTPMethod, _ contentType: String?, _ body: [UInt8]?, _ status: Int,
                        _ message: String
                    ) {
                        (self.name, self.method, self.contentType, self.body, self.status, self.message) = (
                            name, method, contentType, body, status, message
                        )
                    }
                }
                let plain = try reviewBody("01-apply-lb-plain")
                let cases: [Case] = [
                    Case("GET", .GET, nil, nil, 405, "use POST"),
                    Case("PUT", .PUT, "application/json", Array("{}".utf8), 405, "use POST"),
                    Case("text/plain", .POST, "text/plain", plain, 415, "expected application/json"),
                    Case("no content type", .POST, nil, plain, 415, "missing Content-Type"),
                    Case("empty body", .POST, "application/json", [], 400, "empty request body"),
                    Case("invalid JSON", .POST, "application/json", Array("{\"kind\":".utf8), 400, "not valid JSON"),
                    Case("binary", .POST, "application/json", [0, 0xFF, 0xFE, 7], 400, "not valid JSON"),
                    Case(
                        "v1beta1", .POST, "application/json",
                        Array(
                            #"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u"}}"#
                                .utf8), 400, "admission.k8s.io/v1"),
                    Case(
                        "no uid", .POST, "application/json; charset=utf-8",
                        Array(#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}"#.utf8), 400,
                        "no uid"),
                ]
                for testCase in cases {
                    let (name, status, message) = (testCase.name, testCase.status, testCase.message)
                    let response = try await client.send(
                        url, method: testCase.method, contentType: testCase.contentType, body: testCase.body)
                    #expect(response.status == status, "\(name)")
                    let json = try response.json
                    #expect(json["kind"]?.stringValue == "Status", "\(name)")
                    #expect(json["code"] == .number(String(status)), "\(name)")
                    #expect(
                        json["message"]?.stringValue?.contains(message) == true,
                        "\(name): \(String(decoding: response.body, as: UTF8.self))")
                }
                #expect(try await client.send(url, method: .GET).header("Allow") == "POST")
                #expect(try await client.send("\(webhook.baseURL)/nope", method: .GET).status == 404)
                let health = try await client.send("\(webhook.baseURL)/healthz", method: .GET)
                #expect(health.status == 200)
                #expect(health.header("Date")?.hasSuffix(" GMT") == true)
                #expect(try await client.send("\(webhook.baseURL)/readyz", method: .GET).status == 200)
            }
        }
    }

    @Test("an object with unexpected shapes is allowed unchanged with a warning")
    func malformedObject() async throws {
        try await RunningWebhook.with { webhook in
            try await withHTTPClient(tls: clientTLS(trusting: [webhook.pki.bundle])) { client in
                let body =
                    #"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"m-1","kind":{"group":"","version":"v1","kind":"Service"},"operation":"CREATE","object":{"spec":{"type":"LoadBalancer","ports":"80"}}}}"#
                let response = try await client.send("\(webhook.baseURL)/mutate", body: Array(body.utf8))
                #expect(response.status == 200)
                let answer = try #require(try response.json["response"])
                #expect(answer["uid"]?.stringValue == "m-1")
                #expect(answer["allowed"] == .bool(true))
                #expect(answer["patch"] == nil)
                #expect(
                    answer["warnings"]
                        == .array([.string("sharedlb: left unchanged: spec.ports is a string, not an array")]))
            }
        }
    }

    @Test("pipelined requests are answered in order, whichever path answers them")
    func pipelinedOrder() async throws {
        let body = try reviewBody("01-apply-lb-plain")
        let expected = try AdmissionReviewer(policy: ConversionPolicy()).review(body).responseBody()
        try await RunningWebhook.with { webhook in
            try await RawTLSConnection.with(port: webhook.port, tls: clientTLS(trusting: [webhook.pki.bundle])) {
                connection in
                let review =
                    "POST /mutate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                let health = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                // The review after /healthz waits for Hummingbird's answer to it; the others do not.
                try await connection.send(
                    Array(review.utf8) + body + Array(health.utf8) + Array(review.utf8) + body + Array(health.utf8))
                var answers: [String] = []
                for _ in 0..<4 {
                    let body = try await connection.readResponse().body
                    answers.append(body == expected ? "the review's answer" : String(decoding: body, as: UTF8.self))
                }
                #expect(answers == ["the review's answer", "ok\n", "the review's answer", "ok\n"])
                // Later requests on the connection still go the fast way and get the same answer.
                try await connection.send(Array(review.utf8) + body)
                #expect(try await connection.readResponse().body == expected)
            }
        }
    }

    @Test("a body over 7 MiB is refused with 413 before it is read")
    func oversizedByContentLength() async throws {
        try await RunningWebhook.with { webhook in
            try await RawTLSConnection.with(port: webhook.port, tls: clientTLS(trusting: [webhook.pki.bundle])) {
                connection in
                // Announce 8 MiB, send 1 KiB, and wait: the answer must come without the rest.
                try await connection.send(
                    "POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(8 << 20)\r\n\r\n"
                )
                try await connection.send([UInt8](repeating: UInt8(ascii: " "), count: 1024))
                let response = try await connection.readResponse()
                #expect(response.status == 413)
                #expect(String(decoding: response.body, as: UTF8.self).contains("larger than 7340032 bytes"))
            }
        }
    }

    @Test("a chunked body that grows past 7 MiB is refused with 413")
    func oversizedChunked() async throws {
        try await RunningWebhook.with { webhook in
            try await RawTLSConnection.with(port: webhook.port, tls: clientTLS(trusting: [webhook.pki.bundle])) {
                connection in
                try await connection.send(
                    "POST /mutate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                let chunk = [UInt8](repeating: UInt8(ascii: " "), count: 1 << 20)
                for _ in 0..<8 {
                    try await connection.send("100000\r\n")
                    try await connection.send(chunk)
                    try await connection.send("\r\n")
                }
                let response = try await connection.readResponse()
                #expect(response.status == 413)
            }
        }
    }

    @Test("TLS 1.2 and 1.3 are served; ALPN negotiates HTTP/1.1 even when h2 is offered")
    func tlsVersionsAndALPN() async throws {
        try await RunningWebhook.with { webhook in
            for version in [TLSVersion.tlsv12, .tlsv13] {
                try await withHTTPClient(tls: clientTLS(trusting: [webhook.pki.bundle], maximumVersion: version)) {
                    client in
                    let response = try await client.send(
                        "\(webhook.baseURL)/mutate", body: reviewBody("01-apply-lb-plain"))
                    #expect(response.status == 200)
                }
            }
            // A client that prefers h2 still gets HTTP/1.1: the raw connection speaks HTTP/1.1 only.
            try await RawTLSConnection.with(
                port: webhook.port, tls: clientTLS(trusting: [webhook.pki.bundle], alpn: ["h2", "http/1.1"])
            ) { connection in
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(try await connection.readResponse().status == 200)
            }
        }
    }

    @Test("a client that does not trust the CA is refused")
    func untrustedClientFails() async throws {
        try await RunningWebhook.with { webhook in
            let stranger = try TestPKI.issue()
            let tls = try clientTLS(trusting: [stranger])
            await #expect(throws: (any Error).self) {
                try await withHTTPClient(tls: tls) { client in
                    _ = try await client.send("\(webhook.baseURL)/healthz", method: .GET)
                }
            }
        }
    }
}

@Suite("HTTP/2 behind a flag")
struct HTTP2Tests {
    @Test("with --http2 a client that offers h2 gets HTTP/2 and the same answer")
    func http2() async throws {
        try await RunningWebhook.with(http2: true) { webhook in
            let body = try reviewBody("01-apply-lb-plain")
            let tls = try clientTLS(trusting: [webhook.pki.bundle], alpn: ["h2"])
            let (version, status, answer) = try await withHTTPClient(tls: tls, httpVersion: .automatic) { client in
                var request = HTTPClientRequest(url: "\(webhook.baseURL)/mutate")
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await client.execute(request, timeout: .seconds(10))
                return (response.version, response.status, try await response.body.collect(upTo: 1 << 20))
            }
            #expect(version == .http2)
            #expect(status == .ok)
            #expect(
                Array(answer.readableBytesView)
                    == (try AdmissionReviewer(policy: ConversionPolicy()).review(body)).responseBody())
        }
    }
}

@Suite("Content-Type")
struct ContentTypeTests {
    @Test(
        "application/json in any case, with parameters and spaces, is JSON; nothing else is",
        arguments: [
            ("application/json", true), ("Application/JSON; charset=utf-8", true), (" application/json ;x=y", true),
            ("application/json\t", true), ("application/jsonx", false), ("text/json", false),
            ("application/json-patch+json", false), ("", false), ("application/jso", false),
            (";application/json", false),
        ])
    func isJSON(_ contentType: String, _ expected: Bool) {
        #expect(WebhookResponder.isJSON(contentType) == expected)
    }
}
