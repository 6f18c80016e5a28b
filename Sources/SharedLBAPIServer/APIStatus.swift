public import SharedLBCore

/// An error answer of the API server: a `Status` object shaped exactly like kube-apiserver's
/// (field order included), e.g. fixtures `rest/14`, `15`, `16a`, `16b`, `17f`.
public struct APIStatus: Error, Sendable, Equatable {
    /// One `details.causes[]` entry of a 422 Invalid answer.
    public struct Cause: Sendable, Equatable {
        public var reason: String
        public var message: String
        public var field: String

        /// `field.Forbidden`: `spec.loadBalancerClass: Forbidden: may only be used when …`.
        public static func forbidden(_ field: String, _ detail: String) -> Cause {
            Cause(reason: "FieldValueForbidden", message: "Forbidden: \(detail)", field: field)
        }

        /// `field.Invalid` with the value as Go's `%#v`-like rendering (`"Local"`, `31990`).
        public static func invalid(_ field: String, value: JSONValue, _ detail: String) -> Cause {
            Cause(
                reason: "FieldValueInvalid", message: "Invalid value: \(JSONWriter.encode(value)): \(detail)",
                field: field)
        }

        public static func required(_ field: String, _ detail: String = "") -> Cause {
            Cause(
                reason: "FieldValueRequired", message: detail.isEmpty ? "Required value" : "Required value: \(detail)",
                field: field)
        }

        public static func notSupported(_ field: String, value: JSONValue, supported: [String]) -> Cause {
            let list = supported.map { "\"\($0)\"" }.joined(separator: ", ")
            return Cause(
                reason: "FieldValueNotSupported",
                message: "Unsupported value: \(JSONWriter.encode(value)): supported values: \(list)", field: field)
        }

        /// The `field: message` line of the aggregate message.
        var line: String { "\(field): \(message)" }
    }

    public var code: Int
    public var reason: String
    public var message: String
    public var detailsName: String?
    public var detailsGroup: String?
    public var detailsKind: String?
    public var causes: [Cause]
    /// `details.retryAfterSeconds`, also sent as a `Retry-After` header.
    public var retryAfterSeconds: Int?
    /// `metadata.continue` of a 410 Expired list (a fresh token to resume inconsistently).
    public var continueToken: String?

    public init(
        code: Int, reason: String, message: String, detailsName: String? = nil, detailsKind: String? = nil,
        causes: [Cause] = [], retryAfterSeconds: Int? = nil, continueToken: String? = nil
    ) {
        self.code = code
        self.reason = reason
        self.message = message
        self.detailsName = detailsName
        self.detailsKind = detailsKind
        self.causes = causes
        self.retryAfterSeconds = retryAfterSeconds
        self.continueToken = continueToken
    }

    /// `services "x" not found`; `details.kind` is the resource plural.
    public static func notFound(_ resource: String, _ name: String) -> APIStatus {
        APIStatus(
            code: 404, reason: "NotFound", message: "\(resource) \"\(name)\" not found", detailsName: name,
            detailsKind: resource)
    }

    public static func alreadyExists(_ resource: String, _ name: String) -> APIStatus {
        APIStatus(
            code: 409, reason: "AlreadyExists", message: "\(resource) \"\(name)\" already exists", detailsName: name,
            detailsKind: resource)
    }

    /// A write with a stale `metadata.resourceVersion`.
    public static func conflict(_ resource: String, _ name: String) -> APIStatus {
        APIStatus(
            code: 409, reason: "Conflict",
            message:
                "Operation cannot be fulfilled on \(resource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            detailsName: name, detailsKind: resource)
    }

    /// 422: `Service "x" is invalid: a: …` (one cause) or `…: [a: …, b: …]`; `details.kind` is the Kind.
    public static func invalid(kind: String, name: String, causes: [Cause]) -> APIStatus {
        let summary = causes.count == 1 ? causes[0].line : "[\(causes.map(\.line).joined(separator: ", "))]"
        return APIStatus(
            code: 422, reason: "Invalid", message: "\(kind) \"\(name)\" is invalid: \(summary)", detailsName: name,
            detailsKind: kind, causes: causes)
    }

    /// 422 for a request's PatchOptions (`PatchOptions.meta.k8s.io "" is invalid: …`).
    static func invalidPatchOptions(_ cause: Cause) -> APIStatus {
        var status = invalid(kind: "PatchOptions.meta.k8s.io", name: "", causes: [cause])
        status.detailsGroup = "meta.k8s.io"
        status.detailsKind = "PatchOptions"
        return status
    }

    public static func badRequest(_ message: String) -> APIStatus {
        APIStatus(code: 400, reason: "BadRequest", message: message)
    }

    public static let unauthorized = APIStatus(code: 401, reason: "Unauthorized", message: "Unauthorized")

    public static func methodNotAllowed(_ message: String) -> APIStatus {
        APIStatus(code: 405, reason: "MethodNotAllowed", message: message)
    }

    /// `negotiation.NewUnsupportedMediaTypeError`: the media types the verb accepts, in
    /// kube-apiserver's order (``objectMediaTypes`` for bodies, ``patchMediaTypes`` for patches).
    public static func unsupportedMediaType(accepted: [String]) -> APIStatus {
        APIStatus(
            code: 415, reason: "UnsupportedMediaType",
            message:
                "the body of the request was in an unknown format - accepted media types include: \(accepted.joined(separator: ", "))"
        )
    }

    static let objectMediaTypes = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
    static let patchMediaTypes = [
        "application/json-patch+json", "application/merge-patch+json", "application/strategic-merge-patch+json",
        "application/apply-patch+yaml",
    ]

    /// 410 Expired, as for a `continue` token older than the server's history.
    public static func expired(_ message: String, continueToken: String? = nil) -> APIStatus {
        APIStatus(code: 410, reason: "Expired", message: message, continueToken: continueToken)
    }

    public static func tooManyRequests(retryAfterSeconds: Int) -> APIStatus {
        APIStatus(
            code: 429, reason: "TooManyRequests",
            message: "the server has received too many requests and has asked us to try again later",
            retryAfterSeconds: retryAfterSeconds)
    }

    /// `apierrors.NewForbidden`: `services "web" is forbidden: ...` (without a name: `services is forbidden: ...`).
    public static func forbidden(_ resource: String, _ name: String, _ detail: String) -> APIStatus {
        APIStatus(
            code: 403, reason: "Forbidden",
            message: name.isEmpty
                ? "\(resource) is forbidden: \(detail)" : "\(resource) \"\(name)\" is forbidden: \(detail)",
            detailsName: name.isEmpty ? nil : name, detailsKind: resource)
    }

    public static func internalError(_ message: String) -> APIStatus {
        APIStatus(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)")
    }

    /// The Status object, in kube-apiserver's field order.
    public var json: JSONValue {
        var metadata = JSONObject()
        if let continueToken { metadata["continue"] = .string(continueToken) }
        var object = JSONObject([
            ("kind", .string("Status")), ("apiVersion", .string("v1")), ("metadata", .object(metadata)),
            ("status", .string("Failure")), ("message", .string(message)), ("reason", .string(reason)),
        ])
        if detailsName != nil || detailsKind != nil || !causes.isEmpty || retryAfterSeconds != nil {
            var details = JSONObject()
            if let detailsName, !detailsName.isEmpty { details["name"] = .string(detailsName) }
            if let detailsGroup { details["group"] = .string(detailsGroup) }
            if let detailsKind { details["kind"] = .string(detailsKind) }
            if !causes.isEmpty {
                details["causes"] = .array(
                    causes.map {
                        .object(
                            JSONObject([
                                ("reason", .string($0.reason)), ("message", .string($0.message)),
                                ("field", .string($0.field)),
                            ]))
                    })
            }
            if let retryAfterSeconds { details["retryAfterSeconds"] = .number(String(retryAfterSeconds)) }
            object["details"] = .object(details)
        }
        object["code"] = .number(String(code))
        return .object(object)
    }
}
