import SharedLBCore
import Synchronization
import Yams

/// Request bodies, patches and selectors, decoded and checked as kube-apiserver does.
extension APIHandler {
    static func decodeObject(_ request: APIRequest) throws(APIStatus) -> JSONValue {
        guard let type = request.contentType.map(mediaType), type == "application/json" else {
            throw APIStatus.unsupportedMediaType(accepted: APIStatus.objectMediaTypes)
        }
        do {
            let object = try JSONParser.parse(request.body)
            guard case .object = object else {
                throw APIStatus.badRequest("the body of the request is not a JSON object")
            }
            return object
        } catch let status as APIStatus {
            throw status
        } catch {
            throw APIStatus.badRequest("the body of the request could not be decoded: \(error)")
        }
    }

    /// An apply configuration: JSON, or YAML (the media type says YAML; kubectl sends JSON).
    static func decodeApplyConfiguration(_ request: APIRequest) throws(APIStatus) -> JSONValue {
        let config: JSONValue
        if request.body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{") {
            do {
                config = try JSONParser.parse(request.body)
            } catch {
                throw APIStatus.badRequest("error decoding apply configuration: \(error)")
            }
        } else {
            do {
                guard let node = try Yams.compose(yaml: String(decoding: request.body, as: UTF8.self)) else {
                    throw APIStatus.badRequest("the apply configuration is empty")
                }
                config = try Self.json(from: node)
            } catch let status as APIStatus {
                throw status
            } catch {
                throw APIStatus.badRequest("error decoding YAML: \(error)")
            }
        }
        guard case .object = config else {
            throw APIStatus.badRequest("the apply configuration is not an object")
        }
        return config
    }

    /// A YAML node as JSON, keys in document order; timestamps and binary stay the strings
    /// they are written as (sigs.k8s.io/yaml does the same on the way to JSON).
    static func json(from node: Node) throws(APIStatus) -> JSONValue {
        switch node {
        case .mapping(let mapping):
            var object = JSONObject()
            for (key, value) in mapping {
                guard case .scalar(let scalar) = key else {
                    throw APIStatus.badRequest("error decoding YAML: a mapping key that is not a scalar")
                }
                object.members.append(JSONObject.Member(scalar.string, try json(from: value)))
            }
            return .object(object)
        case .sequence(let sequence):
            var items: [JSONValue] = []
            for item in sequence { items.append(try json(from: item)) }
            return .array(items)
        case .scalar(let scalar):
            switch node.tag.description {
            case "tag:yaml.org,2002:null": return .null
            case "tag:yaml.org,2002:bool": return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case "tag:yaml.org,2002:int": return node.int.map { .number(String($0)) } ?? .string(scalar.string)
            case "tag:yaml.org,2002:float":
                guard let value = node.float, value.isFinite else {
                    throw APIStatus.badRequest("error decoding YAML: \(scalar.string) has no JSON form")
                }
                return .number(String(value))
            default: return .string(scalar.string)
            }
        case .alias:
            throw APIStatus.badRequest("error decoding YAML: aliases are not supported by the test server")
        }
    }

    static func decodePatch(_ request: APIRequest, kind: ResourceKind) throws(APIStatus)
        -> @Sendable (JSONValue) throws(APIStatus) -> JSONValue
    {
        let type = request.contentType.map(mediaType) ?? ""
        let document: JSONValue
        do {
            document = try JSONParser.parse(request.body)
        } catch {
            throw APIStatus.badRequest("the body of the request could not be decoded: \(error)")
        }
        switch type {
        case "application/merge-patch+json":
            return { current in JSONMergePatch.apply(document, to: current) }
        case "application/strategic-merge-patch+json":
            let patch = StrategicMergePatch(schema: FieldSchema.of(kind))
            return { current throws(APIStatus) in try patch.apply(document, to: current) }
        case "application/json-patch+json":
            let patch: JSONPatch
            do {
                patch = try JSONPatch(json: document)
            } catch {
                throw APIStatus.badRequest(error.message)
            }
            return { current throws(APIStatus) in
                do {
                    return try patch.apply(to: current)
                } catch {
                    // kube-apiserver's generic 422 (NewGenericServerResponse): the reason is a cause.
                    throw APIStatus(
                        code: 422, reason: "Invalid",
                        message: "the server rejected our request due to an error in our request",
                        causes: [APIStatus.Cause(reason: "", message: "\(error)", field: "")])
                }
            }
        default:
            throw APIStatus.unsupportedMediaType(accepted: APIStatus.patchMediaTypes)
        }
    }

    static func placeInNamespace(_ object: JSONValue, _ route: Route) throws(APIStatus) -> JSONValue {
        guard route.kind.namespaced, case .object(var root) = object else { return object }
        var metadata = root["metadata"]?.objectValue ?? JSONObject()
        if let namespace = metadata["namespace"]?.stringValue, !namespace.isEmpty, namespace != route.namespace {
            throw APIStatus.badRequest(
                "the namespace of the provided object does not match the namespace sent on the request")
        }
        metadata["namespace"] = .string(route.namespace)
        root["metadata"] = .object(metadata)
        return .object(root)
    }

    static func fieldSelector(_ text: String?) throws(APIStatus) -> [String: String] {
        var fields: [String: String] = [:]
        for clause in (text ?? "").split(separator: ",") {
            let parts = clause.split(separator: "=", omittingEmptySubsequences: false).filter { !$0.isEmpty }
            guard parts.count == 2 else { throw APIStatus.badRequest("invalid field selector: \(clause)") }
            fields[String(parts[0])] = String(parts[1])
        }
        return fields
    }

    static func mediaType(_ contentType: String) -> String {
        String(contentType.split(separator: ";").first ?? "").trimmingSpaces.lowercased()
    }
}
