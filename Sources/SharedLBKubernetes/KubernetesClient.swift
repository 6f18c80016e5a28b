import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import SharedLBCore

/// A client for kube-apiserver's REST API: typed verbs over JSON, `Status` errors as
/// ``KubernetesError``, and retries with jittered exponential backoff where they are safe.
///
/// ```swift
/// let client = try KubernetesClient(configuration: .resolve(kubeconfig: nil))
/// let services = try await client.list(KubeService.self, namespace: nil, labelSelector: "sharedlb.io/managed=true")
/// try await client.shutdown()
/// ```
public final class KubernetesClient: Sendable {
    /// A patch body and its content type.
    public enum Patch: Sendable {
        /// RFC 7386 (`application/merge-patch+json`): `null` deletes.
        case merge(JSONValue)
        /// RFC 7386 from a typed value (its encoding must write `null` for what it deletes).
        case mergeEncoding(any Encodable & Sendable)
        /// RFC 6902 (`application/json-patch+json`).
        case json(JSONPatch)
        /// Server-side apply (`application/apply-patch+yaml`, JSON being YAML).
        case apply(JSONValue, fieldManager: String, force: Bool)
    }

    /// How often and how long retryable failures are retried.
    public struct RetryPolicy: Sendable {
        public var attempts: Int
        public var initialDelay: Duration
        public var maximumDelay: Duration

        public init(
            attempts: Int = 5, initialDelay: Duration = .milliseconds(200), maximumDelay: Duration = .seconds(10)
        ) {
            self.attempts = attempts
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
        }

        /// The delay before retry `attempt` (1-based): exponential, with full jitter, capped.
        func delay(attempt: Int, retryAfterSeconds: Int?) -> Duration {
            if let retryAfterSeconds { return .seconds(retryAfterSeconds) }
            let ceiling = min(maximumDelay, initialDelay * (1 << min(attempt - 1, 20)))
            let nanoseconds = Double(ceiling.components.seconds) * 1e9 + Double(ceiling.components.attoseconds) / 1e9
            return .nanoseconds(Int64(Double.random(in: 0.5...1.0) * nanoseconds))
        }
    }

    /// Until when a write may still be sent (nil: none may). A leader-elected writer fences its
    /// client with its renew deadline (``fenced(by:)``).
    public typealias WriteFence = @Sendable () -> ContinuousClock.Instant?

    public let configuration: ClientConfiguration
    public let retryPolicy: RetryPolicy
    /// How long one request may take, head and body (watches excepted).
    public let requestTimeout: Duration
    /// How long one write may take (default: ``requestTimeout``). A leader-elected writer sets
    /// it below lease duration minus renew deadline, so no write of a deposed leader lands
    /// after a standby has taken over.
    public let writeTimeout: Duration
    /// Sent with every request, so the API server's audit log names the writer.
    public let userAgent: String
    let fence: WriteFence?
    /// False for a fenced view: the connection pool is its parent's.
    let ownsHTTP: Bool
    let http: HTTPClient

    public static let defaultUserAgent = "sharedlb/0.1"

    public init(
        configuration: ClientConfiguration, retryPolicy: RetryPolicy = RetryPolicy(),
        requestTimeout: Duration = .seconds(30), writeTimeout: Duration? = nil,
        userAgent: String = KubernetesClient.defaultUserAgent
    ) throws(KubernetesError) {
        self.configuration = configuration
        self.retryPolicy = retryPolicy
        self.requestTimeout = requestTimeout
        self.writeTimeout = writeTimeout ?? requestTimeout
        self.userAgent = userAgent
        fence = nil
        ownsHTTP = true
        var httpConfiguration = HTTPClient.Configuration(tlsConfiguration: try configuration.tlsConfiguration())
        httpConfiguration.httpVersion = .http1Only
        httpConfiguration.timeout.connect = .seconds(10)
        // Every watch holds a connection for its whole life (an allocator keeps four open):
        // AHC's default of 8 per host would leave requests queueing behind them.
        httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        // Idle connections (and watches, whose server-side timeout is below this) are cut after this.
        httpConfiguration.timeout.read = .seconds(330)
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
    }

    private init(fencing parent: KubernetesClient, fence: @escaping WriteFence) {
        configuration = parent.configuration
        retryPolicy = parent.retryPolicy
        requestTimeout = parent.requestTimeout
        writeTimeout = parent.writeTimeout
        userAgent = parent.userAgent
        http = parent.http
        ownsHTTP = false
        self.fence = fence
    }

    /// The same client (and connection pool) whose writes hold to `fence`: every attempt of a
    /// write, retries included, is sent only before the fence's instant and may take no longer
    /// than what is left of it, so no write of a deposed leader lands after its renew deadline.
    /// Reads and watches are not fenced.
    public func fenced(by fence: @escaping WriteFence) -> KubernetesClient {
        KubernetesClient(fencing: self, fence: fence)
    }

    /// Closes the connection pool; call once when done (a fenced view leaves it to its parent).
    public func shutdown() async throws {
        if ownsHTTP { try await http.shutdown() }
    }

    // MARK: Typed verbs

    public func get<Object: KubernetesObject>(_ type: Object.Type, namespace: String?, name: String)
        async throws(KubernetesError)
        -> Object
    {
        try decode(await send(.GET, Object.descriptor.path(namespace: namespace, name: name), idempotent: true))
    }

    /// One page of a list; follow `metadata.continue` for the next, or use ``listAll(_:namespace:labelSelector:fieldSelector:pageSize:)``.
    public func list<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String?, labelSelector: String? = nil, fieldSelector: String? = nil,
        limit: Int? = nil, continueToken: String? = nil
    ) async throws(KubernetesError) -> KubernetesList<Object> {
        var query: [(String, String)] = []
        if let labelSelector { query.append(("labelSelector", labelSelector)) }
        if let fieldSelector { query.append(("fieldSelector", fieldSelector)) }
        if let limit { query.append(("limit", String(limit))) }
        if let continueToken { query.append(("continue", continueToken)) }
        return try decode(
            await send(.GET, Object.descriptor.path(namespace: namespace), query: query, idempotent: true))
    }

    /// Every item, page by page; the result's `resourceVersion` is the first page's (a consistent snapshot).
    public func listAll<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String?, labelSelector: String? = nil, fieldSelector: String? = nil,
        pageSize: Int = 500
    ) async throws(KubernetesError) -> KubernetesList<Object> {
        var page = try await list(
            type, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize)
        var items = page.items
        let resourceVersion = page.metadata.resourceVersion
        while let next = page.metadata.continue, !next.isEmpty {
            page = try await list(
                type, namespace: namespace, labelSelector: labelSelector, fieldSelector: fieldSelector, limit: pageSize,
                continueToken: next)
            items += page.items
        }
        return KubernetesList(metadata: .init(resourceVersion: resourceVersion, continue: nil), items: items)
    }

    public func create<Object: KubernetesObject>(_ object: Object, namespace: String? = nil, dryRun: Bool = false)
        async throws(KubernetesError) -> Object
    {
        let path = Object.descriptor.path(namespace: namespace ?? object.metadata.namespace)
        return try decode(
            await send(
                .POST, path, query: dryRun ? [("dryRun", "All")] : [], body: try encode(object), idempotent: false))
    }

    /// PUT of a whole object SharedLB owns; its `metadata.resourceVersion` makes it a compare-and-swap (409 when stale).
    public func update<Object: KubernetesObject>(_ object: Object, subresource: String? = nil)
        async throws(KubernetesError) -> Object
    {
        guard let name = object.metadata.name else {
            throw KubernetesError(kind: .badRequest, code: 0, message: "update needs metadata.name")
        }
        let path = Object.descriptor.path(namespace: object.metadata.namespace, name: name, subresource: subresource)
        return try decode(await send(.PUT, path, body: try encode(object), idempotent: false))
    }

    /// Patches only what `patch` names: the way to write to objects SharedLB does not own.
    public func patch<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String?, name: String, patch: Patch, subresource: String? = nil
    ) async throws(KubernetesError) -> Object {
        let path = Object.descriptor.path(namespace: namespace, name: name, subresource: subresource)
        var query: [(String, String)] = []
        let body: [UInt8]
        let contentType: String
        switch patch {
        case .merge(let document):
            (body, contentType) = (Array(JSONWriter.encode(document).utf8), "application/merge-patch+json")
        case .mergeEncoding(let value):
            (body, contentType) = (try encode(value), "application/merge-patch+json")
        case .json(let operations):
            (body, contentType) = (operations.encoded, "application/json-patch+json")
        case .apply(let document, let fieldManager, let force):
            (body, contentType) = (Array(JSONWriter.encode(document).utf8), "application/apply-patch+yaml")
            query = [("fieldManager", fieldManager)]
            if force { query.append(("force", "true")) }
        }
        // A JSON patch with a `test` or a merge patch is safe to resend; apply is idempotent too.
        return try decode(
            await send(.PATCH, path, query: query, body: body, contentType: contentType, idempotent: true))
    }

    /// Deletes, with optional preconditions (a delete of a changed object is then a 409).
    public func delete<Object: KubernetesObject>(
        _ type: Object.Type, namespace: String?, name: String, preconditionUID: String? = nil,
        preconditionResourceVersion: String? = nil
    ) async throws(KubernetesError) {
        var preconditions = JSONObject()
        if let preconditionUID { preconditions["uid"] = .string(preconditionUID) }
        if let preconditionResourceVersion { preconditions["resourceVersion"] = .string(preconditionResourceVersion) }
        let options = JSONValue.object(
            JSONObject([
                ("kind", .string("DeleteOptions")), ("apiVersion", .string("v1")),
                ("preconditions", .object(preconditions)),
            ]))
        _ = try await send(
            .DELETE, Object.descriptor.path(namespace: namespace, name: name),
            body: Array(JSONWriter.encode(options).utf8),
            idempotent: true)
    }

    /// Runs a read-modify-write until it does not conflict (re-reading is `body`'s job).
    public func retryOnConflict<T>(attempts: Int = 5, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as KubernetesError where error.kind == .conflict && attempt < attempts {
                attempt += 1
                try await Task.sleep(for: retryPolicy.delay(attempt: attempt, retryAfterSeconds: nil))
            }
        }
    }
}
