public import SharedLBCore
import Synchronization
import Yams

/// One REST request, independent of the HTTP server that carried it.
public struct APIRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var contentType: String?
    public var bearerToken: String?
    public var userAgent: String?
    public var body: [UInt8]

    public init(
        method: String, path: String, query: [String: String] = [:], contentType: String? = nil,
        bearerToken: String? = nil, userAgent: String? = nil, body: [UInt8] = []
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.contentType = contentType
        self.bearerToken = bearerToken
        self.userAgent = userAgent
        self.body = body
    }

    /// Who owns the fields this request writes: `?fieldManager=`, else the User-Agent up to
    /// its first `/` (kube-apiserver's `managerOrUserAgent`).
    var fieldManager: String {
        if let manager = query["fieldManager"], !manager.isEmpty { return manager }
        return String(
            (userAgent ?? "").split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
    }
}

/// The answer: a JSON document, or a watch stream of NDJSON lines.
public struct APIResponse: Sendable {
    public enum Body: Sendable {
        case json(JSONValue)
        case watch(WatchStream)
    }

    public var code: Int
    public var headers: [(String, String)]
    public var body: Body

    static func status(_ status: APIStatus) -> APIResponse {
        var headers: [(String, String)] = []
        if let retryAfter = status.retryAfterSeconds { headers.append(("Retry-After", String(retryAfter))) }
        return APIResponse(code: status.code, headers: headers, body: .json(status.json))
    }
}

/// kube-apiserver's REST semantics for the resources in ``ResourceKind/all``: routing,
/// verbs, authentication, lists, watches, the Service write pipeline (defaults, mutating
/// admission, type-dependent clean-up, validation, allocation) and the request log.
public final class APIHandler: Sendable {
    public let store: ObjectStore
    public let requestLog = RequestLog()
    /// The bearer token clients must send; `nil` accepts anonymous requests.
    public let token: String?
    let strategy: ServiceStrategy
    /// How often a watch that allows bookmarks gets one.
    let bookmarkInterval: Duration
    private let admission: Mutex<[any MutatingAdmission]>

    public init(
        store: ObjectStore = ObjectStore(), token: String?, strategy: ServiceStrategy = ServiceStrategy(),
        admission: [any MutatingAdmission] = [], bookmarkInterval: Duration = .seconds(5)
    ) {
        self.store = store
        self.bookmarkInterval = bookmarkInterval
        self.token = token
        self.strategy = strategy
        self.admission = Mutex(admission)
    }

    /// A failure to inject: the next `count` requests of `verb` on `resource` (in `namespace`,
    /// when given) get `status`.
    public struct Fault: Sendable {
        public var verb: String
        public var resource: String
        public var namespace: String?
        public var count: Int
        public var status: APIStatus

        public init(verb: String, resource: String, namespace: String? = nil, count: Int, status: APIStatus) {
            self.verb = verb
            self.resource = resource
            self.namespace = namespace
            self.count = count
            self.status = status
        }
    }

    private let faults = Mutex<[Fault]>([])
    private let latency = Mutex<Duration>(.zero)

    /// Delays every request by `duration` before it is handled (a slow or overloaded server).
    public func setLatency(_ duration: Duration) {
        latency.withLock { $0 = duration }
    }

    /// Fails the next requests that match (for example 429 storms or 500s in tests).
    public func inject(_ fault: Fault) {
        faults.withLock { $0.append(fault) }
    }

    /// Stops injecting failures.
    public func clearFaults() {
        faults.withLock { $0.removeAll() }
    }

    private func takeFault(verb: String, resource: String, namespace: String?) -> APIStatus? {
        faults.withLock { faults in
            guard
                let index = faults.firstIndex(where: {
                    $0.verb == verb && $0.resource == resource && $0.count > 0
                        && ($0.namespace == nil || $0.namespace == namespace)
                })
            else {
                return nil
            }
            faults[index].count -= 1
            return faults[index].status
        }
    }

    /// Replaces the mutating admission chain (webhooks registered or removed).
    public func setAdmission(_ chain: [any MutatingAdmission]) {
        admission.withLock { $0 = chain }
    }

    struct Route {
        var kind: ResourceKind
        var namespace: String
        var name: String?
        var subresource: String?
    }

    public func handle(_ request: APIRequest) async -> APIResponse {
        if let token, request.bearerToken != token {
            return .status(.unauthorized)
        }
        if request.path == "/version" {
            return APIResponse(code: 200, headers: [], body: .json(Self.version))
        }
        let route: Route
        do {
            route = try Self.route(request.path)
        } catch {
            return .status(error)
        }
        let verb = Self.verb(request, route)
        let delay = latency.withLock { $0 }
        if delay > .zero { try? await Task.sleep(for: delay) }
        let response: APIResponse
        if let fault = takeFault(verb: verb, resource: route.kind.plural, namespace: route.namespace) {
            response = .status(fault)
        } else {
            do {
                response = try await dispatch(verb, route, request)
            } catch {
                response = .status(error)
            }
        }
        requestLog.append(
            RequestLog.Entry(
                verb: verb, resource: route.kind.plural, namespace: route.namespace, name: route.name ?? "",
                subresource: route.subresource ?? "", code: response.code))
        return response
    }

    static let version = JSONValue.object(
        JSONObject([
            ("major", .string("1")), ("minor", .string("24")), ("gitVersion", .string("v1.24.0-sharedlb-test")),
            ("platform", .string("linux/amd64")),
        ]))

    static func verb(_ request: APIRequest, _ route: Route) -> String {
        switch request.method {
        case "GET":
            if route.name != nil { return "get" }
            return ["true", "1"].contains(request.query["watch"] ?? "") ? "watch" : "list"
        case "POST": return "create"
        case "PUT": return "update"
        case "PATCH": return "patch"
        case "DELETE": return route.name == nil ? "deletecollection" : "delete"
        default: return request.method.lowercased()
        }
    }

    /// `/api/v1/[namespaces/NS/]PLURAL[/NAME[/SUB]]` and `/apis/GROUP/VERSION/…`.
    static func route(_ path: String) throws(APIStatus) -> Route {
        let segments = path.split(separator: "/").map(String.init)
        var rest: ArraySlice<String>
        let group: String
        let version: String
        if segments.count >= 3, segments[0] == "api" {
            (group, version, rest) = ("", segments[1], segments[2...])
        } else if segments.count >= 4, segments[0] == "apis" {
            (group, version, rest) = (segments[1], segments[2], segments[3...])
        } else {
            throw APIStatus(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        var namespace = ""
        if rest.count >= 3, rest.first == "namespaces", rest[rest.startIndex + 2] != "status",
            rest[rest.startIndex + 2] != "finalize"
        {
            namespace = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard let plural = rest.first, let kind = ResourceKind.find(group: group, version: version, plural: plural),
            rest.count <= 3
        else {
            throw APIStatus(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        let name = rest.count >= 2 ? rest[rest.startIndex + 1] : nil
        let subresource = rest.count == 3 ? rest[rest.startIndex + 2] : nil
        if let subresource, subresource != "status" || !kind.hasStatus {
            throw APIStatus(code: 404, reason: "NotFound", message: "the server could not find the requested resource")
        }
        return Route(kind: kind, namespace: kind.namespaced ? namespace : "", name: name, subresource: subresource)
    }

    private func dispatch(_ verb: String, _ route: Route, _ request: APIRequest) async throws(APIStatus) -> APIResponse
    {
        let dryRun = request.query["dryRun"] == "All"
        let manager = request.fieldManager
        // Sent on in the review's options for every write, as kube-apiserver does (fixtures 01, 07).
        let optionsManager = request.query["fieldManager"]
        if verb == "update" || verb == "patch", route.name == nil {
            throw APIStatus.methodNotAllowed("the server does not allow this method on the requested resource")
        }
        switch verb {
        case "get":
            return APIResponse(
                code: 200, headers: [],
                body: .json(try store.get(route.kind, namespace: route.namespace, name: route.name!)))
        case "list":
            return try list(route, request)
        case "watch":
            return try watch(route, request)
        case "create":
            guard route.name == nil else {
                throw APIStatus.methodNotAllowed("the server does not allow this method on the requested resource")
            }
            var object = try Self.decodeObject(request)
            object = try Self.placeInNamespace(object, route)
            let created = try await write(
                route.kind, operation: "CREATE", object: object, old: nil, dryRun: dryRun,
                ownership: .update(manager: manager), fieldManager: optionsManager)
            return APIResponse(code: 201, headers: [], body: .json(created))
        case "update":
            let object = try Self.placeInNamespace(try Self.decodeObject(request), route)
            guard object["metadata"]?["name"]?.stringValue == route.name else {
                throw APIStatus.badRequest(
                    "the name of the object (\(object["metadata"]?["name"]?.stringValue ?? "")) does not match the name on the URL (\(route.name!))"
                )
            }
            let expected = object["metadata"]?["resourceVersion"]?.stringValue
            let updated = try await update(
                route, dryRun: dryRun, expectedRevision: expected, ownership: .update(manager: manager),
                fieldManager: optionsManager
            ) { _ in object }
            return APIResponse(code: 200, headers: [], body: .json(updated))
        case "patch":
            let apply = request.contentType.map(Self.mediaType) == "application/apply-patch+yaml"
            if !apply && request.query["force"] != nil {
                throw APIStatus.invalidPatchOptions(.forbidden("force", "may not be specified for non-apply patch"))
            }
            if apply { return try await self.apply(route, request, dryRun: dryRun) }
            let patch = try Self.decodePatch(request, kind: route.kind)
            let updated = try await update(
                route, dryRun: dryRun, expectedRevision: nil, ownership: .update(manager: manager),
                fieldManager: optionsManager
            ) { current throws(APIStatus) in
                try patch(current)
            }
            return APIResponse(code: 200, headers: [], body: .json(updated))
        case "delete":
            let options = request.body.isEmpty ? nil : try? JSONParser.parse(request.body)
            let preconditions = options?["preconditions"]
            let deleted = try store.delete(
                route.kind, namespace: route.namespace, name: route.name!, uid: preconditions?["uid"]?.stringValue,
                resourceVersion: preconditions?["resourceVersion"]?.stringValue,
                dryRun: dryRun || options?["dryRun"] == .array([.string("All")]))
            return APIResponse(code: 200, headers: [], body: .json(deleted))
        default:
            throw APIStatus.methodNotAllowed("the server does not allow this method on the requested resource")
        }
    }

    private func list(_ route: Route, _ request: APIRequest) throws(APIStatus) -> APIResponse {
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

    private func watch(_ route: Route, _ request: APIRequest) throws(APIStatus) -> APIResponse {
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
    private func apply(_ route: Route, _ request: APIRequest, dryRun: Bool) async throws(APIStatus) -> APIResponse {
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
    private func update(
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
    private func write(
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

    // MARK: Decoding

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
