import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import SharedLBCore
import SharedLBWebhook
import Synchronization
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

    @Test("a keep-alive connection idle for the idle timeout is closed by the server, after its answers")
    func idleTimeout() async throws {
        let body = try reviewBody("01-apply-lb-plain")
        try await RunningWebhook.with(idleTimeout: .milliseconds(300)) { webhook in
            let tls = try clientTLS(trusting: [webhook.pki.bundle])
            try await RawTLSConnection.with(port: webhook.port, tls: tls) { connection in
                // A review answered on the fast path, then a request Hummingbird answers.
                try await connection.send(
                    "POST /mutate?timeout=5s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                )
                try await connection.send(body)
                #expect(try await connection.readResponse().status == 200)
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                #expect(try await connection.readResponse().status == 200)
                let idleSince = ContinuousClock.now
                #expect(await connection.waitForClose())
                #expect(ContinuousClock.now - idleSince >= .milliseconds(250))
            }
        }
    }

    @Test(
        "under load, with a shutdown delay for the clients to stop sending, no request fails",
        .timeLimit(.minutes(1)))
    func drainsUnderLoad() async throws {
        let body = try reviewBody("01-apply-lb-plain")
        let expected = try AdmissionReviewer(policy: ConversionPolicy()).review(body).responseBody()
        let request =
            Array(
                "POST /mutate?timeout=5s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n"
                    .utf8) + body
        let workers = 8
        let tally = Tally(workers: workers)
        // kube-apiserver stops sending to an endpoint once it is unready; the delay covers that.
        try await RunningWebhook.with(shutdownDelay: .seconds(1)) { webhook in
            let tls = try clientTLS(trusting: [webhook.pki.bundle])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<workers {
                    group.addTask {
                        defer { tally.workerEnded() }
                        try await RawTLSConnection.with(port: webhook.port, tls: tls) { connection in
                            // Requests back to back on one keep-alive connection while the webhook is ready.
                            while !webhook.server.readiness.isShuttingDown {
                                try await connection.send(request)
                                let response = try await connection.readResponse()
                                tally.record(response.status == 200 && response.body == expected ? .answered : .broken)
                            }
                            // Then the draining server closes the idle connection (one that never did
                            // would keep this waiting until the time limit fails the test).
                            _ = await connection.waitForClose()
                        }
                    }
                }
                var answered = 0
                for await _ in tally.answers {
                    answered += 1
                    if answered == 300 { break }
                }
                await webhook.group.triggerGracefulShutdown()
                try await group.waitForAll()
            }
            let counts = tally.counts
            #expect(counts.broken == 0)
            #expect(counts.answered >= 300)
            // Every answer the server counted reached its client.
            #expect(webhook.server.metrics.answered == counts.answered)
            let exposition = String(decoding: webhook.server.metrics.exposition(), as: UTF8.self)
            #expect(exposition.contains("sharedlb_webhook_in_flight_requests 0.0"))
        }
    }

    /// What the load's clients saw; `answers` yields once per good answer and ends with the last worker.
    private final class Tally: Sendable {
        enum Outcome { case answered, broken }
        let answers: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation
        private let state: Mutex<(answered: Int, broken: Int, workers: Int)>

        init(workers: Int) {
            (answers, continuation) = AsyncStream.makeStream()
            state = Mutex((0, 0, workers))
        }

        var counts: (answered: Int, broken: Int) { state.withLock { ($0.answered, $0.broken) } }

        func record(_ outcome: Outcome) {
            state.withLock {
                switch outcome {
                case .answered: $0.answered += 1
                case .broken: $0.broken += 1
                }
            }
            if outcome == .answered { continuation.yield() }
        }

        func workerEnded() {
            if state.withLock({
                $0.workers -= 1
                return $0.workers == 0
            }) {
                continuation.finish()
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
