import Logging
import ServiceLifecycle

/// Polls the certificate files and swaps in a new serving certificate when they change.
///
/// Kubernetes updates a mounted Secret by swapping a symlink, so watching file contents
/// (not inotify on one path) is what reliably sees rotations, from cert-manager too.
struct CertificateReloadService: Service, CustomStringConvertible {
    var description: String { "CertificateReloadService" }

    let store: CertificateStore
    let interval: Duration
    let readiness: Readiness
    let metrics: WebhookMetrics
    let logger: Logger
    let onCheck: @Sendable (CertificateStore.ReloadOutcome) -> Void

    func run() async throws {
        // Sleeping is cancelled when shutdown begins; that ends the loop.
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                checkNow()
            }
        }
    }

    /// One look at the files; logs and counts what happened.
    @discardableResult
    func checkNow() -> CertificateStore.ReloadOutcome {
        let outcome = store.reload()
        switch outcome {
        case .unchanged:
            break
        case .loaded:
            metrics.certificateReloads.increment()
            if let current = store.current {
                metrics.certificateExpiry.set(Double(current.notValidAfter))
            }
            readiness.certificateLoaded()
            logger.info(
                "serving certificate loaded",
                metadata: [
                    "tls.certificate.path": "\(store.certificatePath)",
                    "tls.certificate.not_after": "\(store.current?.notValidAfter ?? 0)",
                ]
            )
        case .failed(let message):
            metrics.certificateReloadFailures.increment()
            logger.error(
                "serving certificate not loaded; keeping the last good one",
                metadata: ["tls.certificate.path": "\(store.certificatePath)", "error.message": "\(message)"]
            )
        }
        if outcome != .unchanged { onCheck(outcome) }
        return outcome
    }
}
