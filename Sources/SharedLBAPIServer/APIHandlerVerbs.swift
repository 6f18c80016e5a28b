import SharedLBCore
import Synchronization
import Yams

/// list, watch, apply, update and the writes they share.
extension APIHandler {
    func list(_ route: Route, _ request: APIRequest) throws(APIStatus) -> APIResponse {
        let selector = try LabelSelector(parsing: request.query["labelSelector"] ?? "")
        let page = try store.list(
            route.kind, namespace: route.namespace.isEmpty ? nil : route.namespace, selector: selector,
            fieldSelector: try Self.fieldSelector(request.query["fieldSelector"]),
            limit: request.query["limit"].flatMap { Int($0) },
            continueToken: request.query["continue"].flatMap { $0.isEmpty ? nil : $0 },
            exactRevision: request.query["resourceVersionMatch"] == "Exact"
                ? request.query["resourceVersion"].flatMap { Int($0) } : nil)
        var metadata = JSONObject([("resourceVersion", .string(String(page.revision)))])
        if let next = page.continueToken { metadata["continue"] = .string(next) }
        let items = page.items.map { item -> JSONValue in
            guard case .object(var object) = item else { return item }
            object["kind"] = nil
            object["apiVersion"] = nil
            return .object(object)
        }
        return APIResponse(
            code: 200, headers: [],
            body: .json(
                .object(
                    JSONObject([
                        ("kind", .string(route.kind.listKind)), ("apiVersion", .string(route.kind.apiVersion)),
                        ("metadata", .object(metadata)), ("items", .array(items)),
                    ]))))
    }

    func watch(_ route: Route, _ request: APIRequest) throws(APIStatus) -> APIResponse {
        let selector = try LabelSelector(parsing: request.query["labelSelector"] ?? "")
        let namespace = route.namespace.isEmpty ? nil : route.namespace
        let requested = request.query["resourceVersion"].flatMap { Int($0) }
        var initial: [WatchEvent] = []
        var from = requested
        if requested == nil || requested == 0 {
            // No resourceVersion: the current state as ADDED events, then changes.
            let page = try store.list(route.kind, namespace: namespace, selector: selector)
            initial = page.items.map { WatchEvent(type: .added, object: $0) }
            from = page.revision
        }
        let (events, cancel) = store.watch(route.kind, namespace: namespace, selector: selector, resourceVersion: from)
        let watch = WatchStream(
            initial: initial, events: events, cancel: cancel,
            timeout: request.query["timeoutSeconds"].flatMap { Int($0) }.map { .seconds($0) },
            bookmarkInterval: request.query["allowWatchBookmarks"] == "true" ? bookmarkInterval : nil, kind: route.kind,
            startRevision: from ?? store.revision)
        return APIResponse(code: 200, headers: [], body: .watch(watch))
    }

    /// Server-side apply (`application/apply-patch+yaml`): creates the object when it is
    /// missing, else merges the configuration into it; see ``FieldManager``.
    func apply(_ route: Route, _ request: APIRequest, dryRun: Bool) async throws(APIStatus) -> APIResponse {
        guard let manager = request.query["fieldManager"], !manager.isEmpty else {
            throw APIStatus.invalidPatchOptions(.required("fieldManager", "is required for apply patch"))
        }
        let force = request.query["force"] == "true"
        var config = try Self.decodeApplyConfiguration(request)
        let version = config["apiVersion"]?.stringValue ?? ""
        if version != route.kind.apiVersion {
            throw APIStatus.badRequest(
                "Incorrect version specified in apply patch. Specified patch version: \(version), expected: \(route.kind.apiVersion)"
            )
        }
        if let name = config["metadata"]?["name"]?.stringValue, name != route.name {
            throw APIStatus.badRequest(
                "the name of the object (\(name)) does not match the name on the URL (\(route.name ?? ""))")
        }
        config = try Self.placeInNamespace(config, route)
        let fields = FieldManager(kind: route.kind, subresource: route.subresource)
        if (try? store.get(route.kind, namespace: route.namespace, name: route.name!)) == nil, route.subresource == nil
        {
            var object = try fields.apply(
                live: nil, config: config, manager: manager, force: force, now: ObjectStore.timestamp())
            object = JSONMergePatch.apply(
                .object(JSONObject([("metadata", .object(JSONObject([("name", .string(route.name!))])))])), to: object)
            let created = try await write(
                route.kind, operation: "CREATE", object: object, old: nil, dryRun: dryRun, ownership: .recorded,
                fieldManager: manager)
            return APIResponse(code: 201, headers: [], body: .json(created))
        }
        let updated = try await update(
            route, dryRun: dryRun, expectedRevision: nil, ownership: .recorded, fieldManager: manager
        ) { current throws(APIStatus) in
            try fields.apply(
                live: current, config: config, manager: manager, force: force, now: ObjectStore.timestamp())
        }
        return APIResponse(code: 200, headers: [], body: .json(updated))
    }

    /// Who a write's fields belong to: the request's manager, or already recorded (apply).
    enum Ownership {
        case update(manager: String)
        case recorded
    }

    /// Read-modify-write with kube-apiserver's retry: without a client resourceVersion a
    /// conflict with a concurrent writer is retried on the fresh object.
    func update(
        _ route: Route, dryRun: Bool, expectedRevision: String?, ownership: Ownership, fieldManager: String? = nil,
        _ change: (JSONValue) throws(APIStatus) -> JSONValue
    ) async throws(APIStatus) -> JSONValue {
        for _ in 0..<8 {
            let current = try store.get(route.kind, namespace: route.namespace, name: route.name!)
            var object = try change(current)
            object = try Self.placeInNamespace(object, route)
            // A patch that carries metadata.resourceVersion is a compare-and-swap, never retried.
            let currentRevision = current["metadata"]?["resourceVersion"]?.stringValue
            if expectedRevision == nil, let pinned = object["metadata"]?["resourceVersion"]?.stringValue,
                !pinned.isEmpty, pinned != currentRevision
            {
                throw APIStatus.conflict(route.kind.plural, route.name!)
            }
            if route.kind.hasStatus {
                // The main resource ignores status; /status changes nothing else.
                if route.subresource == "status" {
                    guard case .object(var fresh) = current else { return current }
                    fresh["status"] = object["status"]
                    // An apply to /status has recorded its ownership in the changed object.
                    if case .recorded = ownership, case .object(var metadata)? = fresh["metadata"] {
                        metadata["managedFields"] = object["metadata"]?["managedFields"]
                        fresh["metadata"] = .object(metadata)
                    }
                    object = .object(fresh)
                } else if case .object(var root) = object {
                    root["status"] = current["status"]
                    object = .object(root)
                }
            }
            do {
                if route.subresource == "status" {
                    if case .update(let manager) = ownership {
                        object = FieldManager(kind: route.kind, subresource: "status").update(
                            live: current, new: object, manager: manager, now: ObjectStore.timestamp())
                    }
                    return try store.update(
                        route.kind, object: object,
                        expectedRevision: expectedRevision ?? current["metadata"]?["resourceVersion"]?.stringValue,
                        dryRun: dryRun)
                }
                return try await write(
                    route.kind, operation: "UPDATE", object: object, old: current, dryRun: dryRun,
                    ownership: ownership, fieldManager: fieldManager,
                    expectedRevision: expectedRevision ?? current["metadata"]?["resourceVersion"]?.stringValue)
            } catch let status where status.reason == "Conflict" && expectedRevision == nil {
                continue
            }
        }
        throw APIStatus.conflict(route.kind.plural, route.name!)
    }

    /// CREATE and UPDATE of a main resource: defaults, admission, validation, storage.
    /// Field ownership is recorded after defaulting and before admission, as in v1.24.
    func write(
        _ kind: ResourceKind, operation: String, object: JSONValue, old: JSONValue?, dryRun: Bool,
        ownership: Ownership, fieldManager: String? = nil, expectedRevision: String? = nil
    ) async throws(APIStatus) -> JSONValue {
        var object = object
        if kind == .services { object = strategy.applyDefaults(to: object) }
        if case .update(let manager) = ownership {
            object = FieldManager(kind: kind).update(
                live: old, new: object, manager: manager, now: ObjectStore.timestamp())
        }
        let chain = admission.withLock { $0 }
        for step in chain {
            object = try await step.admit(
                AdmissionAttributes(
                    kind: kind, operation: operation, namespace: object["metadata"]?["namespace"]?.stringValue ?? "",
                    name: object["metadata"]?["name"]?.stringValue, object: object, oldObject: old, dryRun: dryRun,
                    fieldManager: fieldManager))
        }
        if kind == .services {
            // Defaulting runs again after admission, as in kube-apiserver.
            object = strategy.applyDefaults(to: object)
            let causes: [APIStatus.Cause]
            if let old {
                object = strategy.dropTypeDependentFields(object, old: old)
                causes = strategy.validateUpdate(object, old: old)
            } else {
                causes = strategy.validate(object)
            }
            if !causes.isEmpty {
                throw APIStatus.invalid(
                    kind: kind.kind, name: object["metadata"]?["name"]?.stringValue ?? "", causes: causes)
            }
        }
        if kind == .endpointSlices {
            // kube-apiserver's EndpointSlice validation of the field the allocator depends on.
            let addressType = object["addressType"]?.stringValue ?? ""
            if !["IPv4", "IPv6", "FQDN"].contains(addressType) {
                let cause: APIStatus.Cause =
                    addressType.isEmpty
                    ? .required("addressType")
                    : .notSupported("addressType", value: .string(addressType), supported: ["FQDN", "IPv4", "IPv6"])
                throw APIStatus.invalid(
                    kind: "EndpointSlice.discovery.k8s.io", name: object["metadata"]?["name"]?.stringValue ?? "",
                    causes: [cause])
            }
        }
        if kind.storage == .events {
            let causes = EventValidation.validate(
                EventConversion.toStorage(object, from: kind),
                old: old.map { EventConversion.toStorage($0, from: kind) },
                through: kind)
            if !causes.isEmpty {
                throw APIStatus.invalid(
                    kind: kind.kind, name: object["metadata"]?["name"]?.stringValue ?? "", causes: causes)
            }
        }
        if old == nil {
            return try store.create(kind, object: object, dryRun: dryRun)
        }
        return try store.update(kind, object: object, expectedRevision: expectedRevision, dryRun: dryRun)
    }
}
