import Foundation
import SharedLBCore
import Synchronization

/// Stamping and trimming stored objects.
extension ObjectStore {
    /// Sets `apiVersion`, `kind` and `metadata.resourceVersion`, and puts metadata in Go's order.
    static func stamp(_ object: JSONValue, kind: ResourceKind, revision: Int) -> JSONValue {
        guard case .object(var root) = object else { return object }
        var metadata = root["metadata"]?.objectValue ?? JSONObject()
        metadata["resourceVersion"] = .string(String(revision))
        root["metadata"] = .object(ServiceStrategy.ordered(metadata, metadataFieldOrder))
        if case .object(let ordered) = FieldSchema.of(kind).ordered(.object(root)) { root = ordered }
        var ordered = JSONObject([("kind", .string(kind.kind)), ("apiVersion", .string(kind.apiVersion))])
        for member in root.members where member.key != "kind" && member.key != "apiVersion" {
            ordered.members.append(member)
        }
        return .object(ordered)
    }

    static let metadataFieldOrder = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers",
        "managedFields",
    ]

    /// `object` with `metadata`; empty label and annotation maps are left out, as Go's
    /// `omitempty` leaves them out of what kube-apiserver stores.
    static func withMetadata(_ object: JSONValue, _ metadata: JSONObject) -> JSONValue {
        guard case .object(var root) = object else { return object }
        var metadata = metadata
        for field in ["labels", "annotations"] where metadata[field]?.objectValue?.isEmpty == true {
            metadata[field] = nil
        }
        root["metadata"] = .object(metadata)
        return .object(root)
    }

    static func withoutRevision(_ object: JSONValue) -> JSONValue {
        guard case .object(var root) = object, case .object(var metadata)? = root["metadata"] else { return object }
        metadata["resourceVersion"] = nil
        root["metadata"] = .object(metadata)
        return .object(root)
    }

    static func withoutMetadataAndStatus(_ object: JSONValue) -> JSONValue {
        guard case .object(var root) = object else { return object }
        root["metadata"] = nil
        root["status"] = nil
        return .object(root)
    }

    /// Whole seconds, UTC, as kube-apiserver writes `creationTimestamp`.
    static func timestamp() -> String {
        Date().formatted(.iso8601)
    }

    /// Five characters from the alphabet Kubernetes uses for `generateName` suffixes.
    static func randomSuffix() -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet.randomElement()! })
    }
}

/// The `continue` token kube-apiserver hands out: unpadded base64url of
/// `{"v":"meta.k8s.io/v1","rv":324,"start":"team-a/allfields\u0000"}` (fixture `13k`).
struct ListContinuation {
    var revision: Int
    var start: String

    init(revision: Int, start: String) {
        self.revision = revision
        self.start = start
    }

    init(token: String) throws(APIStatus) {
        var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64), let json = try? JSONParser.parse(Array(data)),
            let revision = json["rv"].flatMap(ServiceStrategy.integer), let start = json["start"]?.stringValue
        else {
            throw APIStatus.badRequest("continue key is not valid: illegal base64 data at input byte 0")
        }
        self.init(revision: revision, start: start)
    }

    var token: String {
        let json = JSONValue.object(
            JSONObject([("v", .string("meta.k8s.io/v1")), ("rv", .number(String(revision))), ("start", .string(start))])
        )
        return Data(JSONWriter.encode(json).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
