/// A request body that is not an `admission.k8s.io/v1` AdmissionReview: the webhook
/// answers 400 with this message, since there is no request uid to answer to.
public struct AdmissionReviewError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// What the webhook answers to one AdmissionReview, with what it learned for logs and metrics.
public struct AdmissionOutcome: Sendable, Equatable {
    public enum Result: Sendable, Equatable {
        /// Not a Service CREATE/UPDATE (another kind, DELETE, CONNECT, a subresource).
        case ignored
        case service(ServiceDecision)
    }

    public var uid: String
    public var operation: String
    public var namespace: String?
    /// `request.name`; absent for `generateName` creates.
    public var name: String?
    public var dryRun: Bool
    public var result: Result
    public var patch: JSONPatch
    public var warnings: [String]

    /// The `metadata.name` to log: the name, or the `generateName` prefix followed by `*`.
    public var displayName: String { name ?? "*" }

    /// The AdmissionReview response body: `uid` echoed, `allowed: true`, and `patchType`
    /// together with a base64 `patch` only when there are operations.
    public func responseBody() -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128 + patch.operations.count * 96)
        output.append(
            contentsOf: #"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"#.utf8)
        JSONWriter.writeString(uid, into: &output)
        output.append(contentsOf: #","allowed":true"#.utf8)
        if !patch.isEmpty {
            output.append(contentsOf: #","patchType":"JSONPatch","patch":""#.utf8)
            Base64.encode(patch.encoded, into: &output)
            output.append(UInt8(ascii: "\""))
        }
        if !warnings.isEmpty {
            output.append(contentsOf: #","warnings":"#.utf8)
            JSONWriter.write(.array(warnings.map(JSONValue.string)), into: &output)
        }
        output.append(contentsOf: "}}".utf8)
        return output
    }
}

/// Reads AdmissionReviews and decides them. Pure: no I/O, no clock, no state.
///
/// ```swift
/// let reviewer = AdmissionReviewer(policy: ConversionPolicy())
/// let outcome = try reviewer.review(body)       // throws AdmissionReviewError → HTTP 400
/// let response = outcome.responseBody()         // HTTP 200, application/json
/// ```
public struct AdmissionReviewer: Sendable {
    public var converter: ServiceConverter

    public init(policy: ConversionPolicy) {
        converter = ServiceConverter(policy: policy)
    }

    public func review<Bytes: Collection<UInt8>>(_ body: Bytes) throws(AdmissionReviewError) -> AdmissionOutcome {
        let document: JSONValue
        do {
            // managedFields never decide anything and no patch touches them.
            document = try JSONParser.parse(body, skipping: .managedFields)
        } catch {
            throw AdmissionReviewError("request body is not valid JSON: \(error)")
        }
        guard case .object(let review) = document else {
            throw AdmissionReviewError("request body is not a JSON object")
        }
        guard review["apiVersion"]?.stringValue == "admission.k8s.io/v1",
            review["kind"]?.stringValue == "AdmissionReview"
        else {
            throw AdmissionReviewError(
                "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview (admissionReviewVersions: [v1])"
            )
        }
        guard case .object(let request)? = review["request"] else {
            throw AdmissionReviewError("AdmissionReview has no request object")
        }
        guard let uid = request["uid"]?.stringValue, !uid.isEmpty else {
            throw AdmissionReviewError("AdmissionReview request has no uid")
        }
        let operation = request["operation"]?.stringValue ?? ""
        var outcome = AdmissionOutcome(
            uid: uid,
            operation: operation,
            namespace: request["namespace"]?.stringValue,
            name: request["name"]?.stringValue,
            dryRun: request["dryRun"]?.boolValue ?? false,
            result: .ignored,
            patch: JSONPatch(),
            warnings: []
        )
        let kind = request["kind"]
        let isService =
            kind?["group"]?.stringValue == "" && kind?["kind"]?.stringValue == "Service"
            && (request["subResource"]?.stringValue ?? "").isEmpty
        guard isService, operation == "CREATE" || operation == "UPDATE" else {
            return outcome
        }
        let object = request["object"] ?? .null
        let oldObject = request["oldObject"].flatMap { $0.isNull ? nil : $0 }
        let conversion = converter.convert(operation: operation, object: object, oldObject: oldObject)
        outcome.result = .service(conversion.decision)
        outcome.patch = conversion.patch
        outcome.warnings = conversion.warnings
        return outcome
    }
}

/// Standard base64 (RFC 4648, with padding), appended straight to a byte buffer.
enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ input: [UInt8], into output: inout [UInt8]) {
        output.reserveCapacity(output.count + (input.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= input.count {
            let chunk = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
            output.append(alphabet[Int(chunk >> 18 & 63)])
            output.append(alphabet[Int(chunk >> 12 & 63)])
            output.append(alphabet[Int(chunk >> 6 & 63)])
            output.append(alphabet[Int(chunk & 63)])
            index += 3
        }
        let remaining = input.count - index
        guard remaining > 0 else { return }
        let first = UInt32(input[index]) << 16
        let chunk = remaining == 2 ? first | UInt32(input[index + 1]) << 8 : first
        output.append(alphabet[Int(chunk >> 18 & 63)])
        output.append(alphabet[Int(chunk >> 12 & 63)])
        output.append(remaining == 2 ? alphabet[Int(chunk >> 6 & 63)] : UInt8(ascii: "="))
        output.append(UInt8(ascii: "="))
    }
}
