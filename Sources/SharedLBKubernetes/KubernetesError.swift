import Foundation
import SharedLBCore

/// Every failure of a Kubernetes API call: the API server's `Status`, or a transport problem.
///
/// Compare by ``kind`` (`error.kind == .conflict`); ``isRetryable`` says whether trying
/// the same request again can help.
public struct KubernetesError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notFound, alreadyExists, conflict, invalid, forbidden, unauthorized, gone, tooManyRequests
        case badRequest, methodNotAllowed, unsupportedMediaType, timeout, serverError
        /// No answer: connection refused or reset, TLS failure, or a read timeout.
        case transport
        /// An answer that is not what the API promises (undecodable body).
        case decoding
        case configuration
        /// A write not sent: the writer's fence (a leader's renew deadline) has passed.
        case fenced
        case other(Int)
    }

    /// One `details.causes[]` entry of a 422 Invalid answer.
    public struct Cause: Sendable, Equatable {
        public var reason: String
        public var message: String
        public var field: String
    }

    public var kind: Kind
    /// The HTTP status code; 0 when there was no answer.
    public var code: Int
    public var reason: String
    public var message: String
    public var causes: [Cause]
    /// From a 429 (or 503) `Retry-After` header or `details.retryAfterSeconds`.
    public var retryAfterSeconds: Int?
    let file: String
    let line: Int

    init(
        kind: Kind, code: Int, reason: String = "", message: String, causes: [Cause] = [],
        retryAfterSeconds: Int? = nil,
        file: String = #fileID, line: Int = #line
    ) {
        self.kind = kind
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes
        self.retryAfterSeconds = retryAfterSeconds
        self.file = file
        self.line = line
    }

    /// Decodes a `Status` body (or any body) answered with `code`.
    static func fromResponse(code: Int, body: [UInt8], retryAfterHeader: String?) -> KubernetesError {
        let status = try? JSONDecoder().decode(Status.self, from: Data(body))
        let text = String(decoding: body.prefix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return fromStatus(status, code: code, text: text, retryAfterHeader: retryAfterHeader)
    }

    /// The error a `Status` tells (`text` when it has no message), answered with `code`.
    static func fromStatus(_ status: Status?, code: Int, text: String = "", retryAfterHeader: String? = nil)
        -> KubernetesError
    {
        let reason = status?.reason ?? ""
        let causes = (status?.details?.causes ?? []).map {
            Cause(reason: $0.reason ?? "", message: $0.message ?? "", field: $0.field ?? "")
        }
        return KubernetesError(
            kind: kind(code: code, reason: reason), code: code, reason: reason, message: status?.message ?? text,
            causes: causes,
            retryAfterSeconds: retryAfterHeader.flatMap { Int($0) } ?? status?.details?.retryAfterSeconds)
    }

    /// The API server's `Status` (meta/v1), as much of it as errors tell.
    struct Status: Decodable {
        struct Details: Decodable {
            struct Cause: Decodable {
                var reason: String?
                var message: String?
                var field: String?
            }
            var causes: [Cause]?
            var retryAfterSeconds: Int?
        }
        var code: Int?
        var reason: String?
        var message: String?
        var details: Details?
    }

    static func kind(code: Int, reason: String) -> Kind {
        switch (code, reason) {
        case (404, _): .notFound
        case (409, "AlreadyExists"): .alreadyExists
        case (409, _): .conflict
        case (422, _): .invalid
        case (403, _): .forbidden
        case (401, _): .unauthorized
        case (410, _): .gone
        case (429, _): .tooManyRequests
        case (400, _): .badRequest
        case (405, _): .methodNotAllowed
        case (415, _): .unsupportedMediaType
        case (504, _), (_, "Timeout"): .timeout
        case (500...599, _): .serverError
        default: .other(code)
        }
    }

    /// Worth retrying unchanged: throttling, timeouts, server errors and lost connections.
    public var isRetryable: Bool {
        switch kind {
        case .tooManyRequests, .timeout, .serverError, .transport: true
        default: false
        }
    }

    public var description: String {
        let origin = code > 0 ? "\(code) \(reason.isEmpty ? "" : "\(reason): ")" : ""
        return "\(origin)\(message)"
    }
}
