/// A shape error in a Service object, phrased for a warning: "spec.ports is a string, not an array".
struct ShapeError: Error {
    var message: String

    init(_ field: String, is value: JSONValue, expected: String) {
        message = "\(field) is \(value.kindName), not \(expected)"
    }
}

/// Read-only access to the parts of a raw Service object the webhook needs,
/// with every shape it relies on checked up front.
struct ServiceView {
    let metadata: JSONObject?
    let labels: JSONObject?
    let annotations: JSONObject?
    let spec: JSONObject
    let ports: [JSONObject]?
    let type: String
    /// `Kind/name` of the controlling owner, if any.
    let controllerOwner: String?

    init(_ object: JSONValue) throws(ShapeError) {
        guard case .object(let root) = object else { throw ShapeError("object", is: object, expected: "an object") }
        metadata = try Self.optionalObject(root["metadata"], field: "metadata")
        labels = try Self.optionalObject(metadata?["labels"], field: "metadata.labels")
        annotations = try Self.optionalObject(metadata?["annotations"], field: "metadata.annotations")
        spec = try Self.optionalObject(root["spec"], field: "spec") ?? JSONObject()
        switch spec["type"] {
        case nil, .null?: type = "ClusterIP"
        case .string(let value)?: type = value
        case let other?: throw ShapeError("spec.type", is: other, expected: "a string")
        }
        switch spec["ports"] {
        case nil, .null?: ports = nil
        case .array(let elements)?:
            var objects: [JSONObject] = []
            for (index, element) in elements.enumerated() {
                guard case .object(let port) = element else {
                    throw ShapeError("spec.ports[\(index)]", is: element, expected: "an object")
                }
                objects.append(port)
            }
            ports = objects
        case let other?: throw ShapeError("spec.ports", is: other, expected: "an array")
        }
        controllerOwner = try Self.controllerOwner(metadata?["ownerReferences"])
    }

    private static func optionalObject(_ value: JSONValue?, field: String) throws(ShapeError) -> JSONObject? {
        switch value {
        case nil, .null?: return nil
        case .object(let object)?: return object
        case let other?: throw ShapeError(field, is: other, expected: "an object")
        }
    }

    private static func controllerOwner(_ value: JSONValue?) throws(ShapeError) -> String? {
        switch value {
        case nil, .null?: return nil
        case .array(let references)?:
            for reference in references where reference["controller"]?.boolValue == true {
                let kind = reference["kind"]?.stringValue ?? "?"
                let name = reference["name"]?.stringValue ?? "?"
                return "\(kind)/\(name)"
            }
            return nil
        case let other?: throw ShapeError("metadata.ownerReferences", is: other, expected: "an array")
        }
    }

    func annotation(_ key: String) -> String? {
        annotations?[key]?.stringValue
    }

    /// Why kube-apiserver would refuse this Service as a LoadBalancer (empty when it would not).
    var loadBalancerProblems: [String] {
        LoadBalancerValidation.problems(spec: spec, annotations: annotations)
    }

    var isManaged: Bool {
        labels?[SharedLBNames.managedLabel] != nil
    }

    /// The patch that turns this LoadBalancer Service into a managed ClusterIP Service.
    func conversionPatch() -> JSONPatch {
        var operations: [JSONPatchOperation] = [
            .replace(path: JSONPointer("spec", "type"), value: .string("ClusterIP"))
        ]
        var requested = JSONObject()
        for (index, port) in (ports ?? []).enumerated() where port["nodePort"] != nil {
            operations.append(.remove(path: JSONPointer("spec", "ports", String(index), "nodePort")))
        }
        for field in loadBalancerOnlySpecFields {
            guard let value = spec[field] else { continue }
            // A JSON Patch `remove` of a missing key fails the whole request: remove only what is there.
            operations.append(.remove(path: JSONPointer("spec", field)))
            if !value.isNull { requested[field] = value }
        }
        requested["ports"] = spec["ports"].flatMap { $0.isNull ? nil : $0 } ?? .array([])
        // LB-only annotations: refused on a ClusterIP Service; the shared LB carries them.
        var removedAnnotations = JSONObject()
        for key in loadBalancerOnlyAnnotations {
            guard let value = annotations?[key] else { continue }
            operations.append(.remove(path: JSONPointer("metadata", "annotations", key)))
            if !value.isNull { removedAnnotations[key] = value }
        }
        if !removedAnnotations.isEmpty { requested["annotations"] = .object(removedAnnotations) }
        let record = JSONWriter.encode(.object(requested), sortedKeys: true)

        var additions: [(map: String, key: String, value: String)] = []
        if labels?[SharedLBNames.managedLabel]?.stringValue != "true" {
            additions.append(("labels", SharedLBNames.managedLabel, "true"))
        }
        if annotation(SharedLBNames.requestedAnnotation) != record {
            additions.append(("annotations", SharedLBNames.requestedAnnotation, record))
        }
        operations.append(contentsOf: metadataAdditions(additions))
        return JSONPatch(operations)
    }

    /// The patch for a Service let through as a LoadBalancer: if it was managed, it no
    /// longer is, so the allocator releases its slots.
    func releasePatch() -> JSONPatch {
        var operations: [JSONPatchOperation] = []
        if labels?[SharedLBNames.managedLabel] != nil {
            operations.append(.remove(path: JSONPointer("metadata", "labels", SharedLBNames.managedLabel)))
        }
        for key in SharedLBNames.memberAnnotations where annotations?[key] != nil {
            operations.append(.remove(path: JSONPointer("metadata", "annotations", key)))
        }
        return JSONPatch(operations)
    }

    /// Adds members to `metadata.labels`/`metadata.annotations`. A patch must not assume
    /// either map exists (nor `metadata` itself): a missing map is added whole.
    private func metadataAdditions(
        _ additions: [(map: String, key: String, value: String)]
    ) -> [JSONPatchOperation] {
        guard !additions.isEmpty else { return [] }
        if metadata == nil {
            var maps = JSONObject()
            for addition in additions {
                var map = maps[addition.map]?.objectValue ?? JSONObject()
                map[addition.key] = .string(addition.value)
                maps[addition.map] = .object(map)
            }
            return [.add(path: JSONPointer("metadata"), value: .object(maps))]
        }
        var operations: [JSONPatchOperation] = []
        for addition in additions {
            if (addition.map == "labels" ? labels : annotations) != nil {
                operations.append(
                    .add(path: JSONPointer("metadata", addition.map, addition.key), value: .string(addition.value)))
            } else {
                operations.append(
                    .add(
                        path: JSONPointer("metadata", addition.map),
                        value: .object(JSONObject([(addition.key, .string(addition.value))]))))
            }
        }
        return operations
    }
}
