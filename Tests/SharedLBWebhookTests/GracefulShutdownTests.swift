import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import SharedLBCore
import SharedLBWebhook
import Testing

@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    @Test("readiness goes false, a request in flight completes, keep-alive connections are closed")
    func drainsInFlight() async throws {
        let body = try reviewBody("01-apply-lb-plain")
        try await RunningWebhook.with(metricsListener: true) { webhook in
            let metricsPort = try #require(webhook.metricsPort)
            let tls = try clientTLS(trusting: [webhook.pki.bundle])
            try await RawTLSConnection.with(port: webhook.port, tls: tls) { idle in
                // An idle keep-alive connection, as kube-apiserver keeps them.
                try await idle.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(try await idle.readResponse().status == 200)

                try await RawTLSConnection.with(port: webhook.port, tls: tls) { inFlight in
                    // A request whose head has arrived and whose body is still on its way.
                    try await inFlight.send(
                        "POST /mutate?timeout=5s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                    )
                    try await inFlight.send(Array(body.prefix(100)))
                    #expect(try await readiness(metricsPort: metricsPort) == 200)
                    // In flight means the server has the head and runs the handler: wait for that.
                    #expect(try await waitForInFlight(webhook))

                    await webhook.group.triggerGracefulShutdown()
                    // Readiness flips first: the plain listener still answers while the HTTPS server drains.
                    #expect(try await waitForReadiness(metricsPort: metricsPort, status: 503))
                    // The idle connection is closed by the server.
                    #expect(await idle.waitForClose())

                    try await inFlight.send(Array(body.dropFirst(100)))
                    let response = try await inFlight.readResponse()
                    #expect(response.status == 200)
                    #expect(
                        response.body == (try AdmissionReviewer(policy: ConversionPolicy()).review(body)).responseBody()
                    )
                    // After its last response, the draining server closes the connection too.
                    #expect(await inFlight.waitForClose())
                }
            }
        }
    }

    /// Polls the in-flight gauge (bounded in time) until the server is handling one request.
    private func waitForInFlight(_ webhook: RunningWebhook) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let text = String(decoding: webhook.server.metrics.exposition(), as: UTF8.self)
            if text.contains("sharedlb_webhook_in_flight_requests 1.0") { return true }
            try await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    private func readiness(metricsPort: Int) async throws -> Int {
        try await withHTTPClient(tls: .makeClientConfiguration()) { http in
            try await http.send("http://127.0.0.1:\(metricsPort)/readyz", method: .GET).status
        }
    }

    /// Polls /readyz as a kubelet would (there is no event to await across processes), bounded in time.
    private func waitForReadiness(metricsPort: Int, status: Int) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if try await readiness(metricsPort: metricsPort) == status { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}
