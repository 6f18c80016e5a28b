import HTTPTypes
import HummingbirdCore
import Logging
import NIOCore
import SharedLBCore

/// Routes and answers the webhook's HTTP requests.
///
/// `POST /mutate` (the query string is ignored: kube-apiserver appends `?timeout=5s`),
/// `GET /healthz`, `GET /readyz`, `GET /metrics`. Every failure is an HTTP answer with
/// a clear message: no input can crash the server or leak an unhandled error.
public struct WebhookResponder: Sendable {
    /// kube-apiserver sends AdmissionReviews of up to ~7 MiB (controller-runtime caps at 7 MiB too).
    public static let defaultMaximumBodySize = 7 * 1024 * 1024

    let reviewer: AdmissionReviewer
    let metrics: WebhookMetrics
    let readiness: Readiness
    let maximumBodySize: Int
    /// Serve `/metrics` here too (off when metrics have their own port).
    let servesMetrics: Bool
    let logger: Logger

    func respond(to request: Request) async -> Response {
        await route(request).response
    }

    private func route(_ request: Request) async -> Answer {
        switch request.uri.path {
        case "/mutate":
            guard request.method == .post else { return Self.methodNotAllowed(allow: "POST") }
            return await mutate(request)
        case "/healthz", "/livez":
            guard request.method == .get || request.method == .head else { return Self.methodNotAllowed(allow: "GET") }
            return Self.text(.ok, "ok\n")
        case "/readyz":
            guard request.method == .get || request.method == .head else { return Self.methodNotAllowed(allow: "GET") }
            if readiness.isReady { return Self.text(.ok, "ok\n") }
            return Self.text(
                .serviceUnavailable, readiness.isShuttingDown ? "shutting down\n" : "no serving certificate loaded\n")
        case "/metrics" where servesMetrics:
            guard request.method == .get else { return Self.methodNotAllowed(allow: "GET") }
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Answer(status: .ok, headers: headers, body: ByteBuffer(bytes: metrics.exposition()))
        default:
            return Self.text(.notFound, "not found: the admission endpoint is POST /mutate\n")
        }
    }

    /// `POST /mutate` through Hummingbird's async request path: every request with `--http2`
    /// (HTTP/1.1 connections included), and over HTTP/1.1 the reviews ``AdmissionFastPath``
    /// hands on (chunked or larger than it takes, or behind a request answered here); it answers
    /// the others on the event loop with the same steps.
    private func mutate(_ request: Request) async -> Answer {
        let started = beginMutate()
        defer { endMutate(started) }
        if let refusal = refuse(head: request.headers) { return refusal }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximumBodySize)
        } catch is NIOTooManyBytesError {
            metrics.recordRequest(operation: "other", result: .rejected)
            return Self.status(.contentTooLarge, "request body is larger than \(maximumBodySize) bytes")
        } catch {
            metrics.recordRequest(operation: "other", result: .rejected)
            return Self.status(.badRequest, "cannot read request body: \(error)")
        }
        return answer(body: body)
    }

    /// Counts a `POST /mutate` in flight until ``endMutate(_:)``.
    func beginMutate() -> ContinuousClock.Instant {
        metrics.inFlight.increment()
        return ContinuousClock.now
    }

    func endMutate(_ started: ContinuousClock.Instant) {
        metrics.inFlight.decrement()
        metrics.duration.record(ContinuousClock.now - started)
    }

    /// A review whose connection closed before its body was in.
    func abandonMutate(_ started: ContinuousClock.Instant) {
        metrics.recordRequest(operation: "other", result: .rejected)
        endMutate(started)
    }

    /// The refusal a request head alone earns; a too-large body is refused before it is read.
    func refuse(head headers: HTTPFields) -> Answer? {
        guard let refusal = Self.refusal(head: headers, maximumBodySize: maximumBodySize) else { return nil }
        metrics.recordRequest(operation: "other", result: .rejected)
        return refusal
    }

    private static func refusal(head headers: HTTPFields, maximumBodySize: Int) -> Answer? {
        guard let contentType = headers[.contentType] else {
            return status(.unsupportedMediaType, "missing Content-Type: expected application/json")
        }
        guard isJSON(contentType) else {
            return status(.unsupportedMediaType, "unsupported Content-Type \(contentType): expected application/json")
        }
        if let length = headers[.contentLength].flatMap(Int.init), length > maximumBodySize {
            return status(.contentTooLarge, "request body of \(length) bytes is larger than \(maximumBodySize) bytes")
        }
        return nil
    }

    /// Reviews a whole request body.
    func answer(body: ByteBuffer) -> Answer {
        guard body.readableBytes > 0 else {
            metrics.recordRequest(operation: "other", result: .rejected)
            return Self.status(.badRequest, "empty request body: expected an admission.k8s.io/v1 AdmissionReview")
        }
        let outcome: AdmissionOutcome
        do {
            outcome = try reviewer.review(body.readableBytesView)
        } catch {
            metrics.recordRequest(operation: "other", result: .rejected)
            logger.warning("rejected an admission request", metadata: ["error.message": "\(error.message)"])
            return Self.status(.badRequest, error.message)
        }
        record(outcome)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Answer(status: .ok, headers: headers, body: ByteBuffer(bytes: outcome.responseBody()))
    }

    /// Whether a Content-Type names `application/json` (`Application/JSON; charset=utf-8` does).
    /// Bytes, not Foundation: this runs for every request (Foundation's trimming and
    /// lowercasing cost 6 % of the webhook's CPU under load).
    static func isJSON(_ contentType: String) -> Bool {
        if contentType == "application/json" { return true }
        var mediaType = contentType.utf8.prefix { $0 != UInt8(ascii: ";") }[...]
        while let first = mediaType.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            mediaType = mediaType.dropFirst()
        }
        while let last = mediaType.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            mediaType = mediaType.dropLast()
        }
        let expected = "application/json".utf8
        return mediaType.count == expected.count
            && zip(mediaType, expected).allSatisfy { byte, wanted in
                (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 == wanted : byte == wanted
            }
    }

    private func record(_ outcome: AdmissionOutcome) {
        // Metadata is built inside the log calls' autoclosures: only when the level is enabled.
        func metadata(_ extra: Logger.Metadata = [:]) -> Logger.Metadata {
            var metadata: Logger.Metadata = [
                "admission.uid": "\(outcome.uid)",
                "admission.operation": "\(outcome.operation)",
                "k8s.namespace": "\(outcome.namespace ?? "")",
                "k8s.name": "\(outcome.displayName)",
            ]
            if outcome.dryRun { metadata["admission.dry_run"] = "true" }
            return metadata.merging(extra) { $1 }
        }
        switch outcome.result {
        case .ignored:
            metrics.recordRequest(operation: outcome.operation, result: .ignored)
        case .service(.unchanged):
            metrics.recordRequest(operation: outcome.operation, result: .unchanged)
            logger.debug("service unchanged", metadata: metadata())
        case .service(.converted):
            metrics.recordRequest(operation: outcome.operation, result: .converted)
            logger.info(
                "converted LoadBalancer service to a shared one",
                metadata: metadata(["admission.patch.operations": "\(outcome.patch.operations.count)"]))
        case .service(.skipped(let reasons)):
            metrics.recordRequest(operation: outcome.operation, result: .skipped)
            if let first = reasons.first { metrics.recordSkip(first) }
            logger.info(
                "left LoadBalancer service unconverted",
                metadata: metadata(["sharedlb.skip.reasons": "\(reasons.map(\.rawValue).joined(separator: ","))"]))
        case .service(.malformed(let message)):
            metrics.recordRequest(operation: outcome.operation, result: .malformed)
            logger.warning(
                "service has an unexpected shape; allowed unchanged",
                metadata: metadata(["error.message": "\(message)"]))
        }
    }

    /// An error answer shaped like a Kubernetes `Status`, so the API server's log shows the message.
    static func status(_ status: HTTPResponse.Status, _ message: String) -> Answer {
        var output: [UInt8] = []
        output.append(
            contentsOf: #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"#.utf8)
        JSONWriter.writeString(message, into: &output)
        output.append(contentsOf: #","reason":"#.utf8)
        JSONWriter.writeString(status.reasonPhrase.filter { $0 != " " }, into: &output)
        output.append(contentsOf: #","code":\#(status.code)}"#.utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Answer(status: status, headers: headers, body: ByteBuffer(bytes: output))
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Answer {
        var headers = HTTPFields()
        headers[.contentType] = "text/plain; charset=utf-8"
        return Answer(status: status, headers: headers, body: ByteBuffer(string: text))
    }

    static func methodNotAllowed(allow: String) -> Answer {
        var response = status(.methodNotAllowed, "method not allowed: use \(allow)")
        response.headers[.allow] = allow
        return response
    }
}

/// A whole answer: status, headers and body, for either HTTP path to write.
struct Answer {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer

    var response: Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }
}
