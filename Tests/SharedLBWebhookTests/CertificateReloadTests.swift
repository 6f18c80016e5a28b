import AsyncHTTPClient
import Foundation
import NIOCore
import SharedLBCertificates
import SharedLBWebhook
import Synchronization
import Testing

@Suite("Certificate hot reload")
struct CertificateReloadTests {
    @Test("a rotated certificate is served to new connections while load runs, with zero failed requests")
    func rotationUnderLoad() async throws {
        let rotated = try TestPKI.issue()
        try await RunningWebhook.with(reloadInterval: .milliseconds(50)) { webhook in
            var checks = webhook.certificateChecks.makeAsyncIterator()
            #expect(await checks.next() == .loaded)  // the initial load
            let body = try reviewBody("01-apply-lb-plain")
            let url = "\(webhook.baseURL)/mutate"
            let stats = LoadStats()
            // Clients trust both CAs, so connections opened after the rotation succeed too.
            let tls = try clientTLS(trusting: [webhook.pki.bundle, rotated])
            try await withThrowingTaskGroup(of: Void.self) { load in
                for client in 0..<4 {
                    load.addTask {
                        try await withHTTPClient(tls: tls) { http in
                            // Keep going until the rotation is over, and at least 50 requests each.
                            var sent = 0
                            while !stats.rotationDone || sent < 50 {
                                sent += 1
                                do {
                                    // Every other client closes its connection each time (handshakes during the swap).
                                    let response = try await http.send(
                                        url, body: body, closeConnection: client.isMultiple(of: 2))
                                    stats.record(success: response.status == 200)
                                } catch {
                                    stats.record(success: false)
                                }
                            }
                        }
                    }
                }
                try rotated.write(to: webhook.pki.directory)
                // The four files are renamed one by one: a check between the key's rename and the
                // certificate's sees a mismatched pair and keeps the old one; a later check loads.
                var loaded = false
                for _ in 0..<5 where !loaded { loaded = await checks.next() == .loaded }
                #expect(loaded)
                // A client that trusts only the new CA proves new handshakes get the new certificate.
                try await withHTTPClient(tls: clientTLS(trusting: [rotated])) { http in
                    let response = try await http.send(url, body: body)
                    #expect(response.status == 200)
                }
                stats.finishRotation()
                try await load.waitForAll()
            }
            #expect(stats.failures == 0)
            #expect(stats.successes >= 200)
            let metrics = String(decoding: webhook.server.metrics.exposition(), as: UTF8.self)
            #expect(metrics.contains(#"sharedlb_webhook_certificate_reloads_total{result="success"} 2"#))
        }
    }

    @Test("a half-written or mismatched certificate keeps the last good one, and is counted")
    func badFilesKeepLastGood() async throws {
        try await RunningWebhook.with(reloadInterval: .milliseconds(50)) { webhook in
            var checks = webhook.certificateChecks.makeAsyncIterator()
            #expect(await checks.next() == .loaded)
            let other = try TestPKI.issue()
            let certificate = webhook.pki.directory.appending(path: "tls.crt")
            // Half-written: the first 100 bytes of a new certificate. Each file is replaced
            // atomically, as a Secret volume is, so no check can see a write in progress (a
            // check landing mid-write saw a truncated key and made this test flaky).
            try Data(other.certificatePEM.utf8.prefix(100)).write(to: certificate, options: .atomic)
            guard case .failed = await checks.next() else {
                Issue.record("a truncated certificate was not reported")
                return
            }
            // A complete certificate whose key is not the one on disk.
            try Data(other.certificatePEM.utf8).write(to: certificate, options: .atomic)
            guard case .failed(let message) = await checks.next() else {
                Issue.record("a mismatched key was not reported")
                return
            }
            #expect(message.contains("invalid certificate or key"))
            // New connections still get the original certificate.
            try await withHTTPClient(tls: clientTLS(trusting: [webhook.pki.bundle])) { http in
                let response = try await http.send("\(webhook.baseURL)/readyz", method: .GET)
                #expect(response.status == 200)
            }
            let metrics = String(decoding: webhook.server.metrics.exposition(), as: UTF8.self)
            #expect(metrics.contains(#"sharedlb_webhook_certificate_reloads_total{result="failure"} 2"#))
            #expect(metrics.contains(#"sharedlb_webhook_certificate_reloads_total{result="success"} 1"#))
            // Writing the matching key completes the rotation.
            try Data(other.keyPEM.utf8).write(
                to: webhook.pki.directory.appending(path: "tls.key"), options: .atomic)
            #expect(await checks.next() == .loaded)
            try await withHTTPClient(tls: clientTLS(trusting: [other])) { http in
                let response = try await http.send("\(webhook.baseURL)/healthz", method: .GET)
                #expect(response.status == 200)
            }
        }
    }

    @Test("the store validates pairs directly: a key from another certificate is refused")
    func storeRejectsMismatch() throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let store = CertificateStore(certificatePath: pki.certificatePath, keyPath: pki.keyPath)
        #expect(store.reload() == .loaded)
        #expect(store.reload() == .unchanged)
        try Data(try TestPKI.issue().keyPEM.utf8).write(to: URL(filePath: pki.keyPath))
        guard case .failed = store.reload() else {
            Issue.record("mismatched key accepted")
            return
        }
        // The same bad files are reported once, not on every poll.
        #expect(store.reload() == .unchanged)
        #expect(store.current != nil)
    }

    @Test("a file larger than one read is read whole; a missing or oversized one is reported with its path")
    func largeAndUnreadableFiles() throws {
        let pki = try TestPKI.make()
        defer { pki.remove() }
        let store = CertificateStore(certificatePath: pki.certificatePath, keyPath: pki.keyPath)
        #expect(store.reload() == .loaded)
        // 40 KiB of text before the PEM block (PEM readers skip it): the file takes several reads.
        let certificate = try String(contentsOfFile: pki.certificatePath, encoding: .utf8)
        let padded = String(repeating: "a comment line before the certificate\n", count: 1_100) + certificate
        try Data(padded.utf8).write(to: URL(filePath: pki.certificatePath))
        #expect(store.reload() == .loaded)
        try FileManager.default.removeItem(atPath: pki.keyPath)
        guard case .failed(let missing) = store.reload() else {
            Issue.record("a missing key was not reported")
            return
        }
        #expect(missing.contains(pki.keyPath))
        #expect(missing.contains("No such file or directory"))
        #expect(store.reload() == .unchanged)
        // A file over 1 MiB (more than a Secret holds) is refused, not read into memory.
        try Data(repeating: 0x41, count: (1 << 20) + 1).write(to: URL(filePath: pki.keyPath))
        guard case .failed(let oversized) = store.reload() else {
            Issue.record("an oversized key was not reported")
            return
        }
        #expect(oversized.contains(pki.keyPath))
        #expect(oversized.contains("larger than 1 MiB"))
        #expect(store.current != nil)
    }
}

/// Counts shared by the load clients of one test.
final class LoadStats: Sendable {
    private struct State {
        var successes = 0
        var failures = 0
        var rotationDone = false
    }

    private let state = Mutex(State())

    func record(success: Bool) {
        state.withLock { state in
            if success {
                state.successes += 1
            } else {
                state.failures += 1
            }
        }
    }

    func finishRotation() {
        state.withLock { $0.rotationDone = true }
    }

    var rotationDone: Bool { state.withLock { $0.rotationDone } }
    var successes: Int { state.withLock { $0.successes } }
    var failures: Int { state.withLock { $0.failures } }
}
