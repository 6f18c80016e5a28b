import Logging
import SharedLBAPIServer
import SharedLBCore
import SharedLBKubernetes
import Synchronization
import Testing

/// Runs the in-repo API server over HTTPS and a client configured for it, as a kubeconfig would.
func withCluster(
    admission: [any MutatingAdmission] = [], bookmarkInterval: Duration = .seconds(5),
    _ body: @Sendable (KubernetesClient, APIHandler) async throws -> Void
) async throws {
    try await withCluster(admission: admission, bookmarkInterval: bookmarkInterval) { client, handler, _ in
        try await body(client, handler)
    }
}

/// The same, also handing over the server (to restart it).
func withCluster(
    admission: [any MutatingAdmission] = [], bookmarkInterval: Duration = .seconds(5),
    _ body: @Sendable (KubernetesClient, APIHandler, APIServer) async throws -> Void
) async throws {
    var logger = Logger(label: "test.cluster")
    logger.logLevel = .warning
    let handler = APIHandler(token: "secret", admission: admission, bookmarkInterval: bookmarkInterval)
    try await APIServer.withRunning(handler: handler, logger: logger) { server in
        let client = try KubernetesClient(
            configuration: ClientConfiguration(
                server: await server.url, certificateAuthorityPEM: server.caCertificatePEM,
                credentials: .token("secret")),
            retryPolicy: .init(attempts: 4, initialDelay: .milliseconds(1), maximumDelay: .milliseconds(20)))
        do {
            try await body(client, handler, server)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }
}

@Suite("Client verbs against the API test server")
struct ClientVerbTests {
    @Test("create, get, compare-and-swap update, conflict, merge and JSON patches, delete with preconditions")
    func configMapLifecycle() async throws {
        try await withCluster { client, handler in
            let created = try await client.create(
                ConfigMap(
                    metadata: ObjectMeta(
                        name: "sharedlb-ledger-a", namespace: "default", labels: ["sharedlb.io/role": "ledger"]),
                    data: ["v": "1"]))
            #expect(created.metadata.uid != nil)
            let fetched = try await client.get(ConfigMap.self, namespace: "default", name: "sharedlb-ledger-a")
            #expect(fetched == created)
            var changed = fetched
            changed.data = ["v": "2"]
            let updated = try await client.update(changed)
            #expect(updated.metadata.resourceVersion != fetched.metadata.resourceVersion)
            // The same stale copy again: a compare-and-swap failure.
            await #expect {
                try await client.update(changed)
            } throws: { error in
                (error as? KubernetesError)?.kind == .conflict
            }
            let merged = try await client.patch(
                ConfigMap.self, namespace: "default", name: "sharedlb-ledger-a",
                patch: .merge(try json(#"{"metadata":{"annotations":{"a":"b"}}}"#)))
            #expect(merged.metadata.annotations == ["a": "b"])
            #expect(merged.data == ["v": "2"])
            let patched = try await client.patch(
                ConfigMap.self, namespace: "default", name: "sharedlb-ledger-a",
                patch: .json(JSONPatch([.remove(path: JSONPointer("metadata", "annotations", "a"))])))
            // The emptied map is left out, as kube-apiserver stores it.
            #expect(patched.metadata.annotations == nil)
            await #expect {
                try await client.delete(
                    ConfigMap.self, namespace: "default", name: "sharedlb-ledger-a", preconditionResourceVersion: "1")
            } throws: { error in
                (error as? KubernetesError)?.kind == .conflict
            }
            try await client.delete(
                ConfigMap.self, namespace: "default", name: "sharedlb-ledger-a", preconditionUID: created.metadata.uid)
            await #expect {
                try await client.get(ConfigMap.self, namespace: "default", name: "sharedlb-ledger-a")
            } throws: { error in
                let error = error as? KubernetesError
                return error?.kind == .notFound && error?.message == "configmaps \"sharedlb-ledger-a\" not found"
            }
            #expect(handler.requestLog.writes(to: "configmaps") == 5)
        }
    }

    @Test("errors carry the Status: AlreadyExists, Invalid with causes, Unauthorized")
    func errors() async throws {
        try await withCluster { client, _ in
            let map = ConfigMap(metadata: ObjectMeta(name: "x", namespace: "default"))
            _ = try await client.create(map)
            await #expect {
                try await client.create(map)
            } throws: { error in
                (error as? KubernetesError)?.kind == .alreadyExists
            }
            var service = KubeService(
                metadata: ObjectMeta(name: "bad", namespace: "default"),
                spec: .init(type: "ClusterIP", ports: [.init(port: 80)]))
            service.spec?.externalTrafficPolicy = "Local"
            await #expect {
                try await client.create(service)
            } throws: { error in
                let error = error as? KubernetesError
                return error?.kind == .invalid && error?.causes.map(\.field) == ["spec.externalTrafficPolicy"]
            }
            let stranger = try KubernetesClient(
                configuration: ClientConfiguration(
                    server: client.configuration.server,
                    certificateAuthorityPEM: client.configuration.certificateAuthorityPEM,
                    credentials: .token("wrong")))
            await #expect {
                try await stranger.get(Namespace.self, namespace: nil, name: "default")
            } throws: { error in
                (error as? KubernetesError)?.kind == .unauthorized
            }
            try await stranger.shutdown()
        }
    }

    @Test("listAll follows continue tokens; labelSelector filters")
    func pagination() async throws {
        try await withCluster { client, _ in
            for index in 0..<7 {
                _ = try await client.create(
                    ConfigMap(
                        metadata: ObjectMeta(
                            name: "m\(index)", namespace: "default",
                            labels: index.isMultiple(of: 2) ? ["even": "yes"] : [:])))
            }
            let all = try await client.listAll(ConfigMap.self, namespace: "default", pageSize: 2)
            #expect(all.items.map(\.metadata.name) == (0..<7).map { "m\($0)" })
            let even = try await client.listAll(ConfigMap.self, namespace: nil, labelSelector: "even=yes", pageSize: 3)
            #expect(even.items.count == 4)
            #expect(even.metadata.resourceVersion != nil)
        }
    }

    @Test(
        "a converted Service comes back as the webhook left it; patches touch only what they name, status via /status")
    func serviceThroughAdmission() async throws {
        try await withCluster(admission: [InProcessAdmission()]) { client, _ in
            let created = try await client.create(
                KubeService(
                    metadata: ObjectMeta(name: "db", namespace: "default"),
                    spec: .init(type: "LoadBalancer", ports: [.init(name: "pg", port: 5432)], selector: ["app": "db"])))
            #expect(created.spec?.type == "ClusterIP")
            #expect(created.metadata.labels?["sharedlb.io/managed"] == "true")
            #expect(created.metadata.annotations?["sharedlb.io/requested"] != nil)
            #expect(created.spec?.clusterIP?.hasPrefix("10.96.") == true)
            let annotated = try await client.patch(
                KubeService.self, namespace: "default", name: "db",
                patch: .merge(
                    try json(#"{"metadata":{"annotations":{"sharedlb.io/endpoint":"203.0.113.7:5432/TCP"}}}"#)))
            #expect(annotated.metadata.annotations?["sharedlb.io/endpoint"] == "203.0.113.7:5432/TCP")
            #expect(annotated.spec == created.spec)
            // Playing the cloud provider on a LoadBalancer Service.
            _ = try await client.create(
                KubeService(
                    metadata: ObjectMeta(name: "shared", namespace: "default"),
                    spec: .init(type: "LoadBalancer", ports: [.init(port: 5432)])))
            let ingress = try json(#"{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}"#)
            let withStatus = try await client.patch(
                KubeService.self, namespace: "default", name: "shared", patch: .merge(ingress), subresource: "status")
            #expect(withStatus.status?.loadBalancer?.ingress == [KubeService.Ingress(ip: "203.0.113.7", hostname: nil)])
        }
    }

    @Test("server-side apply creates, merges, prunes, and reports another manager's field as a conflict until forced")
    func serverSideApply() async throws {
        try await withCluster { client, _ in
            func config(_ data: String) throws -> JSONValue {
                try json(
                    #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"applied","namespace":"default"},"data":\#(data)}"#
                )
            }
            let created = try await client.patch(
                ConfigMap.self, namespace: "default", name: "applied",
                patch: .apply(try config(#"{"a":"1","b":"2"}"#), fieldManager: "sharedlb-test", force: false))
            #expect(created.data == ["a": "1", "b": "2"])
            // Someone else edits a field the applier owns (an Update takes it without a conflict).
            _ = try await client.patch(
                ConfigMap.self, namespace: "default", name: "applied", patch: .merge(try json(#"{"data":{"a":"9"}}"#)))
            // The applier drops b and sets a back: a conflict on a (owned by the User-Agent "sharedlb").
            await #expect {
                try await client.patch(
                    ConfigMap.self, namespace: "default", name: "applied",
                    patch: .apply(try config(#"{"a":"1"}"#), fieldManager: "sharedlb-test", force: false))
            } throws: { error in
                let error = error as? KubernetesError
                return error?.kind == .conflict
                    && error?.message.hasPrefix(#"Apply failed with 1 conflict: conflict with "sharedlb" using v1 at "#)
                        == true
                    && error?.message.hasSuffix(": .data.a") == true
            }
            let forced = try await client.patch(
                ConfigMap.self, namespace: "default", name: "applied",
                patch: .apply(try config(#"{"a":"1"}"#), fieldManager: "sharedlb-test", force: true))
            #expect(forced.data == ["a": "1"])
        }
    }

    @Test("429 with Retry-After and 500s on reads are retried; a 500 on create is not")
    func retries() async throws {
        try await withCluster { client, handler in
            handler.inject(
                .init(verb: "list", resource: "configmaps", count: 2, status: .tooManyRequests(retryAfterSeconds: 0)))
            handler.inject(.init(verb: "get", resource: "namespaces", count: 2, status: .internalError("etcd is sad")))
            let listed = try await client.list(ConfigMap.self, namespace: "default")
            #expect(listed.items.isEmpty)
            let namespace = try await client.get(Namespace.self, namespace: nil, name: "default")
            #expect(namespace.metadata.name == "default")
            handler.inject(
                .init(verb: "create", resource: "configmaps", count: 1, status: .internalError("etcd is sad")))
            await #expect {
                try await client.create(ConfigMap(metadata: ObjectMeta(name: "once", namespace: "default")))
            } throws: { error in
                (error as? KubernetesError)?.kind == .serverError
            }
            handler.inject(.init(verb: "get", resource: "namespaces", count: 10, status: .internalError("down")))
            await #expect {
                try await client.get(Namespace.self, namespace: nil, name: "default")
            } throws: { error in
                (error as? KubernetesError)?.kind == .serverError
            }
            // Four attempts, as configured, then the error.
            let failedGets = handler.requestLog.all.filter {
                $0.verb == "get" && $0.resource == "namespaces" && $0.code == 500
            }
            #expect(failedGets.count == 2 + 4)
        }
    }

    @Test("a fenced client sends no write past its fence, retries included; reads are not fenced")
    func fence() async throws {
        try await withCluster { client, handler in
            let deadline = Mutex<ContinuousClock.Instant?>(nil)
            let fenced = client.fenced { deadline.withLock { $0 } }
            func creates() -> [RequestLog.Entry] {
                handler.requestLog.all.filter { $0.verb == "create" && $0.resource == "configmaps" }
            }
            func create(_ name: String) async throws {
                _ = try await fenced.create(ConfigMap(metadata: ObjectMeta(name: name, namespace: "default")))
            }
            // Not the leader: nothing is sent.
            await #expect { try await create("not-leader") } throws: { ($0 as? KubernetesError)?.kind == .fenced }
            #expect(creates().isEmpty)
            _ = try await fenced.get(Namespace.self, namespace: nil, name: "default")
            deadline.withLock { $0 = .now + .seconds(30) }
            try await create("leader")
            #expect(creates().map(\.code) == [201])
            // Throttled with Retry-After: 5 while the fence is 2 s away (room for a slow first
            // attempt on a busy machine): the retry is not sent.
            deadline.withLock { $0 = .now + .seconds(2) }
            handler.inject(
                .init(verb: "create", resource: "configmaps", count: 10, status: .tooManyRequests(retryAfterSeconds: 5))
            )
            await #expect { try await create("deposed") } throws: { ($0 as? KubernetesError)?.kind == .fenced }
            #expect(creates().map(\.code) == [201, 429])
        }
    }

    @Test("retryOnConflict re-runs the read-modify-write")
    func retryOnConflict() async throws {
        try await withCluster { client, _ in
            _ = try await client.create(
                ConfigMap(metadata: ObjectMeta(name: "counter", namespace: "default"), data: ["n": "0"]))
            let attempts = Counter()
            try await client.retryOnConflict {
                var map = try await client.get(ConfigMap.self, namespace: "default", name: "counter")
                if await attempts.next() == 1 {
                    // Someone else writes between our read and our write.
                    var other = map
                    other.data = ["n": "5"]
                    _ = try await client.update(other)
                }
                map.data = ["n": String(Int(map.data?["n"] ?? "0")! + 1)]
                _ = try await client.update(map)
            }
            let counter = try await client.get(ConfigMap.self, namespace: "default", name: "counter")
            #expect(counter.data == ["n": "6"])
            #expect(await attempts.value == 2)
        }
    }
}

actor Counter {
    var value = 0

    func next() -> Int {
        value += 1
        return value
    }
}

/// A JSON document from its text, for patch bodies in tests.
func json(_ text: String) throws -> JSONValue {
    try JSONParser.parse(Array(text.utf8))
}

@Suite("Client timeouts")
struct ClientTimeoutTests {
    @Test("a server slower than the request timeout is a transport error, retried for reads until it answers in time")
    func slowServer() async throws {
        try await withCluster { client, handler in
            let impatient = try KubernetesClient(
                configuration: client.configuration,
                retryPolicy: .init(attempts: 3, initialDelay: .milliseconds(1), maximumDelay: .milliseconds(5)),
                // Generous enough for a fresh TLS handshake on a loaded machine (200 ms was not).
                requestTimeout: .milliseconds(500))
            do {
                handler.setLatency(.milliseconds(1500))
                await #expect {
                    try await impatient.get(Namespace.self, namespace: nil, name: "default")
                } throws: { error in
                    (error as? KubernetesError)?.kind == .transport
                }
                handler.setLatency(.zero)
                let namespace = try await impatient.get(Namespace.self, namespace: nil, name: "default")
                #expect(namespace.metadata.name == "default")
            } catch {
                try? await impatient.shutdown()
                throw error
            }
            try await impatient.shutdown()
        }
    }
}

@Suite("Pods and EndpointSlices")
struct EndpointModelTests {
    @Test("a pod's status written via /status and an EndpointSlice round-trip through the server")
    func podAndSlice() async throws {
        try await withCluster { client, _ in
            let pod = try await client.create(
                Pod(metadata: ObjectMeta(name: "web-1", namespace: "default"), spec: .init(nodeName: "node-a")))
            _ = try await client.patch(
                Pod.self, namespace: "default", name: "web-1",
                patch: .merge(
                    try json(#"{"status":{"phase":"Running","podIP":"10.244.0.5","podIPs":[{"ip":"10.244.0.5"}]}}"#)),
                subresource: "status")
            let running = try await client.get(Pod.self, namespace: "default", name: "web-1")
            #expect(running.status?.podIPs == [Pod.PodIP(ip: "10.244.0.5")])
            let slice = try await client.create(
                EndpointSlice(
                    metadata: ObjectMeta(
                        name: "sharedlb-shared-1-abc", namespace: "default",
                        labels: [
                            "kubernetes.io/service-name": "sharedlb-default-1",
                            "endpointslice.kubernetes.io/managed-by": "allocator.sharedlb.io",
                        ]),
                    endpoints: [
                        .init(
                            addresses: ["10.244.0.5"],
                            conditions: .init(ready: true, serving: true, terminating: false),
                            targetRef: ObjectReference(
                                kind: "Pod", namespace: "default", name: "web-1", uid: pod.metadata.uid),
                            nodeName: "node-a")
                    ],
                    ports: [.init(name: "tcp-5432", protocol: "TCP", port: 5432)]))
            #expect(slice.metadata.generation == 1)
            #expect(slice.endpoints?.first?.targetRef?.uid == pod.metadata.uid)
        }
    }
}

@Suite("Event recorder")
struct EventRecorderTests {
    @Test("repeats become a series on one Event; other reasons are other Events; an expired Event is recreated")
    func series() async throws {
        try await withCluster { client, handler in
            let recorder = EventRecorder(client: client, controller: "sharedlb.io/allocator", instance: "allocator-0")
            let member = ObjectReference(
                apiVersion: "v1", kind: "Service", namespace: "default", name: "db", uid: "u-1")
            let first = try await recorder.record(
                regarding: member, type: .warning, reason: "PlacementFailed", action: "Place",
                note: "no shared LB has room")
            #expect(first.eventTime?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/) != nil)
            #expect(first.type == "Warning")
            let second = try await recorder.record(
                regarding: member, type: .warning, reason: "PlacementFailed", action: "Place",
                note: "no shared LB has room")
            #expect(second.metadata.name == first.metadata.name)
            #expect(second.series?.count == 2)
            _ = try await recorder.record(
                regarding: member, type: .normal, reason: "Placed", action: "Place", note: "on sharedlb-default-1")
            let events = try await client.list(Event.self, namespace: "default")
            #expect(events.items.count == 2)
            try await client.delete(Event.self, namespace: "default", name: first.metadata.name!)
            let again = try await recorder.record(
                regarding: member, type: .warning, reason: "PlacementFailed", action: "Place",
                note: "no shared LB has room")
            #expect(again.metadata.name != nil)
            #expect(handler.requestLog.writes(to: "events") == 5)
        }
    }
}
