public import SharedLBCore

/// What a mutating admission step sees: kube-apiserver's AdmissionReview `request`, in short.
public struct AdmissionAttributes: Sendable {
    public var kind: ResourceKind
    public var operation: String
    public var namespace: String
    /// Absent for `generateName` creates.
    public var name: String?
    public var object: JSONValue
    public var oldObject: JSONValue?
    public var dryRun: Bool
    /// The request's `?fieldManager=` (sent in the review's options: fixtures 01, 03, 07).
    public var fieldManager: String? = nil
}

/// A mutating admission step (a registered webhook, or an in-process stand-in in tests).
/// Returns the object to continue with; throws a Status to reject the request.
public protocol MutatingAdmission: Sendable {
    func admit(_ attributes: AdmissionAttributes) async throws(APIStatus) -> JSONValue
}

/// Runs SharedLB's own conversion in-process, as if it were a registered webhook:
/// builds the AdmissionReview, decides with ``AdmissionReviewer`` and applies the patch the
/// way the API server does (a patch that does not apply rejects the request).
public struct InProcessAdmission: MutatingAdmission {
    let reviewer: AdmissionReviewer

    public init(policy: ConversionPolicy = ConversionPolicy()) {
        reviewer = AdmissionReviewer(policy: policy)
    }

    public func admit(_ attributes: AdmissionAttributes) async throws(APIStatus) -> JSONValue {
        guard attributes.kind == .services else { return attributes.object }
        let review = AdmissionReviewBuilder.review(attributes, uid: "in-process")
        let outcome: AdmissionOutcome
        do {
            outcome = try reviewer.review(Array(JSONWriter.encode(review).utf8))
        } catch {
            throw APIStatus.internalError("failed calling webhook \"services.sharedlb.io\": \(error.message)")
        }
        do {
            return try outcome.patch.apply(to: attributes.object)
        } catch {
            throw APIStatus.internalError(
                "JSON patch from webhook \"services.sharedlb.io\" does not apply: \(error.message)")
        }
    }
}

/// AdmissionReview v1 request bodies as kube-apiserver v1.24 sends them (fixture `admission/*.review.json`).
public enum AdmissionReviewBuilder {
    public static func review(_ attributes: AdmissionAttributes, uid: String) -> JSONValue {
        let kind = attributes.kind
        let gvk = JSONValue.object(
            JSONObject([
                ("group", .string(kind.group)), ("version", .string(kind.version)), ("kind", .string(kind.kind)),
            ]))
        let gvr = JSONValue.object(
            JSONObject([
                ("group", .string(kind.group)), ("version", .string(kind.version)), ("resource", .string(kind.plural)),
            ]))
        var request = JSONObject([
            ("uid", .string(uid)), ("kind", gvk), ("resource", gvr), ("requestKind", gvk), ("requestResource", gvr),
        ])
        if let name = attributes.name { request["name"] = .string(name) }
        request["namespace"] = .string(attributes.namespace)
        request["operation"] = .string(attributes.operation)
        request["userInfo"] = .object(
            JSONObject([
                ("username", .string("admin")), ("uid", .string("uid-admin")),
                ("groups", .array([.string("system:masters"), .string("system:authenticated")])),
            ]))
        request["object"] = attributes.object
        request["oldObject"] = attributes.oldObject ?? .null
        request["dryRun"] = .bool(attributes.dryRun)
        let optionsKind = attributes.operation == "CREATE" ? "CreateOptions" : "UpdateOptions"
        var options = JSONObject([("kind", .string(optionsKind)), ("apiVersion", .string("meta.k8s.io/v1"))])
        if attributes.dryRun { options["dryRun"] = .array([.string("All")]) }
        if let fieldManager = attributes.fieldManager { options["fieldManager"] = .string(fieldManager) }
        request["options"] = .object(options)
        return .object(
            JSONObject([
                ("kind", .string("AdmissionReview")), ("apiVersion", .string("admission.k8s.io/v1")),
                ("request", .object(request)),
            ]))
    }
}
