import Foundation
import SharedLBCore
import Testing

/// Fixtures captured from kube-apiserver v1.24 (copied from shared/fixtures/kube-1.24/admission).
enum Fixtures {
    static func data(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
        return try Data(contentsOf: url)
    }

    static func json(_ name: String) throws -> JSONValue {
        try JSONParser.parse(Array(try data(name)))
    }

    /// Every scenario that has a captured AdmissionReview.
    static var scenarios: [String] {
        let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".review.json") }.map { String($0.dropLast(".review.json".count)) }.sorted()
    }

    /// The AdmissionReview as the API server sent it: compact single-line JSON.
    static func compactReview(_ scenario: String) throws -> [UInt8] {
        Array(JSONWriter.encode(try json("\(scenario).review.json")).utf8)
    }
}

/// A plain RFC 6902 implementation for the tests (add, remove, replace), strict like
/// kube-apiserver's: removing or replacing a missing member fails the whole patch.
enum PatchApplier {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func apply(_ patch: JSONValue, to document: JSONValue) throws -> JSONValue {
        guard case .array(let operations) = patch else { throw Failure(description: "patch is not an array") }
        var result = document
        for operation in operations {
            guard let op = operation["op"]?.stringValue, let path = operation["path"]?.stringValue else {
                throw Failure(description: "operation without op/path")
            }
            let tokens = try parsePointer(path)
            result = try apply(op: op, tokens: tokens[...], value: operation["value"], to: result)
        }
        return result
    }

    static func parsePointer(_ pointer: String) throws -> [String] {
        guard pointer.hasPrefix("/") else { throw Failure(description: "pointer \(pointer) does not start with /") }
        return pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func apply(op: String, tokens: ArraySlice<String>, value: JSONValue?, to node: JSONValue) throws
        -> JSONValue
    {
        let token = tokens.first!
        let last = tokens.count == 1
        switch node {
        case .object(var object):
            if last {
                switch op {
                case "add":
                    guard let value else { throw Failure(description: "add without value") }
                    object[token] = value
                case "replace":
                    guard object[token] != nil, let value else {
                        throw Failure(description: "replace of missing \(token)")
                    }
                    object[token] = value
                case "remove":
                    guard object[token] != nil else {
                        throw Failure(description: "Unable to remove nonexistent key: \(token)")
                    }
                    object[token] = nil
                default: throw Failure(description: "unsupported op \(op)")
                }
                return .object(object)
            }
            guard let child = object[token] else { throw Failure(description: "missing parent \(token)") }
            object[token] = try apply(op: op, tokens: tokens.dropFirst(), value: value, to: child)
            return .object(object)
        case .array(var array):
            guard let index = Int(token), index >= 0, index < array.count || (op == "add" && index == array.count)
            else {
                throw Failure(description: "bad array index \(token)")
            }
            if last {
                switch op {
                case "add": array.insert(value!, at: index)
                case "replace": array[index] = value!
                case "remove": array.remove(at: index)
                default: throw Failure(description: "unsupported op \(op)")
                }
                return .array(array)
            }
            array[index] = try apply(op: op, tokens: tokens.dropFirst(), value: value, to: array[index])
            return .array(array)
        default:
            throw Failure(description: "cannot descend into \(node.kindName) at \(token)")
        }
    }
}

/// What kube-apiserver v1.24 rejects on a ClusterIP Service (DESIGN.md, "Facts"), plus
/// SharedLB's own contract for a converted Service. Empty when the Service is acceptable.
func convertedServiceViolations(_ service: JSONValue, original: JSONValue) -> [String] {
    var violations: [String] = []
    let spec = service["spec"]
    if spec?["type"]?.stringValue != "ClusterIP" { violations.append("type is not ClusterIP") }
    for (index, port) in (spec?["ports"]?.arrayValue ?? []).enumerated() where port["nodePort"] != nil {
        violations.append("spec.ports[\(index)].nodePort: Forbidden")
    }
    for field in loadBalancerOnlySpecFields where spec?[field] != nil {
        violations.append("spec.\(field) still present")
    }
    for annotation in loadBalancerOnlyAnnotations where service["metadata"]?["annotations"]?[annotation] != nil {
        violations.append("metadata.annotations[\(annotation)]: Forbidden")
    }
    if service["metadata"]?["labels"]?["sharedlb.io/managed"]?.stringValue != "true" {
        violations.append("no sharedlb.io/managed label")
    }
    guard let record = service["metadata"]?["annotations"]?["sharedlb.io/requested"]?.stringValue,
        let requested = try? JSONParser.parse(Array(record.utf8))
    else {
        violations.append("no parsable sharedlb.io/requested annotation")
        return violations
    }
    if requested["ports"] != (original["spec"]?["ports"] ?? .array([])) {
        violations.append("requested.ports differ from the ports received")
    }
    for field in loadBalancerOnlySpecFields {
        if let value = original["spec"]?[field], requested[field] != value {
            violations.append("requested.\(field) not recorded")
        }
    }
    return violations
}

extension AdmissionOutcome {
    /// The patch as the JSON document the API server would decode.
    var patchJSON: JSONValue {
        get throws { try JSONParser.parse(patch.encoded) }
    }
}
