import SharedLBCore
import Synchronization
import Yams

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
    let admission: Mutex<[any MutatingAdmission]>

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

    let faults = Mutex<[Fault]>([])
    let latency = Mutex<Duration>(.zero)

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

    func takeFault(verb: String, resource: String, namespace: String?) -> APIStatus? {
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

    func dispatch(_ verb: String, _ route: Route, _ request: APIRequest) async throws(APIStatus) -> APIResponse {
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
}
