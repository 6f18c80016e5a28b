import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL

/// HTTPS POSTs to an admission webhook, as kube-apiserver makes them: HTTP/1.1, the
/// webhook's `caBundle` as the only trust root, a deadline of `timeoutSeconds`.
/// Used by the in-repo API server; lives here because this module owns HTTP clients.
public final class WebhookClient: Sendable {
    let http: HTTPClient

    /// - Parameters:
    ///   - caBundlePEM: the PEM a webhook configuration's `caBundle` decodes to; `nil` trusts the system roots.
    ///   - dnsOverride: host names to connect elsewhere while the certificate is still verified for
    ///     the name (a `clientConfig.service` webhook: `svc.ns.svc` → an endpoint's address).
    public init(caBundlePEM: String?, dnsOverride: [String: String] = [:]) throws(KubernetesError) {
        var tls = TLSConfiguration.makeClientConfiguration()
        do {
            if let caBundlePEM {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMBytes(Array(caBundlePEM.utf8)))
            }
        } catch {
            throw KubernetesError(kind: .configuration, code: 0, message: "invalid caBundle: \(error)")
        }
        tls.applicationProtocols = ["http/1.1"]
        tls.shutdownTimeout = .seconds(1)
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.httpVersion = .http1Only
        configuration.timeout.connect = .seconds(5)
        // kube-apiserver does not retry a refused connection; the failure policy decides at once.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.dnsOverride = dnsOverride
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    /// POSTs `body` as JSON; returns the status code and body of whatever answer came back.
    public func post(url: String, body: [UInt8], timeout: Duration) async throws(KubernetesError) -> (
        code: Int, body: [UInt8]
    ) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json, */*")
        request.headers.add(name: "User-Agent", value: "kube-apiserver-admission")
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            let response = try await http.execute(request, timeout: timeout.timeAmount)
            let answer = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), Array(answer.readableBytesView))
        } catch {
            throw KubernetesError(kind: .transport, code: 0, message: "\(error)")
        }
    }

    public func shutdown() async throws {
        try await http.shutdown()
    }
}
