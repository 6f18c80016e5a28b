import Foundation
import SharedLBCore
import Testing

@testable import SharedLBAPIServer

@Suite("Object store semantics")
struct ObjectStoreTests {
    func json(_ text: String) throws -> JSONValue {
        try JSONParser.parse(Array(text.utf8))
    }

    func configMap(_ name: String, namespace: String = "default", labels: String = "{}") throws -> JSONValue {
        try json(
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"\#(name)","namespace":"\#(namespace)","labels":\#(labels)},"data":{"k":"v"}}"#
        )
    }

    @Test("create stamps uid, resourceVersion and creationTimestamp in kube-apiserver's field order")
    func create() throws {
        let store = ObjectStore()
        let before = store.revision
        let created = try store.create(.configMaps, object: configMap("a", labels: #"{"k":"v"}"#))
        let metadata = try #require(created["metadata"]?.objectValue)
        #expect(
            metadata.members.map(\.key) == [
                "name", "namespace", "uid", "resourceVersion", "creationTimestamp", "labels",
            ])
        // An empty map is left out, as Go's omitempty leaves it out (the differential test's finding).
        #expect(try store.create(.configMaps, object: configMap("empty"))["metadata"]?["labels"] == nil)
        #expect(metadata["resourceVersion"] == .string(String(before + 1)))
        #expect(metadata["creationTimestamp"]?.stringValue?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/) != nil)
        #expect(created.objectValue?.members.map(\.key).prefix(2) == ["kind", "apiVersion"])
        #expect(throws: APIStatus.alreadyExists("configmaps", "a")) {
            try store.create(.configMaps, object: configMap("a"))
        }
        #expect(throws: APIStatus.notFound("namespaces", "nope")) {
            try store.create(.configMaps, object: configMap("a", namespace: "nope"))
        }
        #expect(throws: APIStatus.notFound("configmaps", "b")) {
            try store.get(.configMaps, namespace: "default", name: "b")
        }
    }

    @Test("generateName gets a 5-character suffix from Kubernetes' alphabet")
    func generateName() throws {
        let store = ObjectStore()
        let created = try store.create(
            .configMaps, object: json(#"{"metadata":{"generateName":"gen-","namespace":"default"}}"#))
        let name = try #require(created["metadata"]?["name"]?.stringValue)
        #expect(name.wholeMatch(of: /gen-[bcdfghjklmnpqrstvwxz2456789]{5}/) != nil)
    }

    @Test("a stale resourceVersion is a 409 Conflict shaped like fixture 14; an unchanged write is not a write")
    func conflicts() throws {
        let store = ObjectStore()
        let created = try store.create(.configMaps, object: configMap("app-config"))
        let revision = try #require(created["metadata"]?["resourceVersion"]?.stringValue)
        var changed = created
        changed = try JSONPatch([.replace(path: JSONPointer("data", "k"), value: .string("w"))]).apply(to: changed)
        let updated = try store.update(.configMaps, object: changed, expectedRevision: revision)
        #expect(updated["metadata"]?["resourceVersion"] != created["metadata"]?["resourceVersion"])
        #expect {
            try store.update(.configMaps, object: changed, expectedRevision: revision)
        } throws: { error in
            JSONWriter.encode((error as! APIStatus).json) + "\n"
                == (try? Fixtures.text("14-put-configmap-stale-rv.json"))
        }
        let again = try store.update(.configMaps, object: updated, expectedRevision: nil)
        #expect(again == updated)
        #expect(store.revision == Int(updated["metadata"]!["resourceVersion"]!.stringValue!)!)
    }

    @Test("lists page with limit and continue, keep the first page's resourceVersion, and expire after compaction")
    func pagination() throws {
        let store = ObjectStore()
        for name in ["e", "a", "d", "b", "c"] {
            _ = try store.create(.configMaps, object: configMap(name, labels: #"{"sharedlb.io/role":"ledger"}"#))
        }
        _ = try store.create(.configMaps, object: configMap("unlabelled"))
        let selector = try LabelSelector(parsing: "sharedlb.io/role=ledger")
        var names: [String] = []
        var token: String?
        var revisions = Set<Int>()
        repeat {
            let page = try store.list(
                .configMaps, namespace: "default", selector: selector, limit: 2, continueToken: token)
            names += page.items.compactMap { $0["metadata"]?["name"]?.stringValue }
            revisions.insert(page.revision)
            token = page.continueToken
            _ = try store.create(.configMaps, object: configMap("z\(names.count)"))  // writes between pages
        } while token != nil
        #expect(names == ["a", "b", "c", "d", "e"])
        #expect(revisions.count == 1)
        let first = try store.list(.configMaps, namespace: "default", selector: selector, limit: 1)
        _ = try store.create(.configMaps, object: configMap("later"))
        store.compact()  // like etcd compaction past the first page's revision
        #expect {
            try store.list(
                .configMaps, namespace: "default", selector: selector, limit: 1, continueToken: first.continueToken)
        } throws: { error in
            let status = error as! APIStatus
            return status.code == 410 && status.reason == "Expired" && status.continueToken != nil
        }
    }

    @Test("continue tokens use kube-apiserver's encoding (fixture 13k)")
    func continueToken() throws {
        let token = try #require(
            try Fixtures.json("13k-list-services-limit1.json")["metadata"]?["continue"]?.stringValue)
        let decoded = try ListContinuation(token: token)
        #expect(decoded.revision == 324)
        #expect(decoded.start == "team-a/allfields\u{0}")
        #expect(decoded.token == token)
    }

    @Test("Services get a cluster IP and node ports; a taken node port is 422; delete frees them")
    func serviceAllocation() throws {
        let store = ObjectStore()
        let strategy = ServiceStrategy()
        let lb = strategy.applyDefaults(
            to: try json(
                #"{"metadata":{"name":"lb","namespace":"default"},"spec":{"type":"LoadBalancer","ports":[{"name":"a","port":80},{"name":"b","port":81,"nodePort":30100}]}}"#
            ))
        let created = try store.create(.services, object: lb)
        let spec = try #require(created["spec"])
        let clusterIP = try #require(spec["clusterIP"]?.stringValue)
        #expect(clusterIP.hasPrefix("10.96."))
        #expect(spec["clusterIPs"] == .array([.string(clusterIP)]))
        #expect(spec["ipFamilies"] == .array([.string("IPv4")]))
        #expect(spec["ipFamilyPolicy"] == .string("SingleStack"))
        #expect(spec["ports"]?.arrayValue?[1]["nodePort"] == .number("30100"))
        #expect(spec["ports"]?.arrayValue?[0]["nodePort"] != nil)
        let clash = strategy.applyDefaults(
            to: try json(
                #"{"metadata":{"name":"np","namespace":"default"},"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":30100}]}}"#
            ))
        #expect {
            try store.create(.services, object: clash)
        } throws: { error in
            (error as! APIStatus).message
                == "Service \"np\" is invalid: spec.ports[0].nodePort: Invalid value: 30100: provided port is already allocated"
        }
        _ = try store.delete(.services, namespace: "default", name: "lb")
        #expect(
            try store.create(.services, object: clash)["spec"]?["ports"]?.arrayValue?[0]["nodePort"] == .number("30100")
        )
    }

    @Test("watches replay from a resourceVersion, then follow live changes, with selector transitions")
    func watch() async throws {
        let store = ObjectStore()
        let selector = try LabelSelector(parsing: "sharedlb.io/managed=true")
        let start = store.revision
        _ = try store.create(.configMaps, object: configMap("a", labels: #"{"sharedlb.io/managed":"true"}"#))
        let (events, cancel) = store.watch(.configMaps, namespace: nil, selector: selector, resourceVersion: start)
        var iterator = events.makeAsyncIterator()
        #expect(await iterator.next()?.type == .added)  // replayed
        let b = try store.create(.configMaps, object: configMap("b", labels: #"{"team":"b"}"#))  // no match: no event
        let relabelled = try JSONPatch([
            .add(path: JSONPointer("metadata", "labels", "sharedlb.io/managed"), value: .string("true"))
        ])
        .apply(to: b)
        _ = try store.update(.configMaps, object: relabelled, expectedRevision: nil)
        let added = await iterator.next()
        #expect(added?.type == .added)
        #expect(added?.object["metadata"]?["name"] == .string("b"))
        _ = try store.update(.configMaps, object: b, expectedRevision: nil)  // label gone again
        #expect(await iterator.next()?.type == .deleted)
        _ = try store.delete(.configMaps, namespace: "default", name: "a")
        let deleted = await iterator.next()
        #expect(deleted?.type == .deleted)
        #expect(deleted?.object["metadata"]?["name"] == .string("a"))
        cancel()
        #expect(await iterator.next() == nil)
    }

    @Test("a watch from before the watch cache's window gets one ERROR event with 410 Expired, as fixture 17c")
    func expiredWatch() async throws {
        let store = ObjectStore()
        _ = try store.create(.configMaps, object: configMap("a"))
        store.evictWatchCache()
        let (events, _) = store.watch(.configMaps, namespace: nil, resourceVersion: 1)
        var collected: [WatchEvent] = []
        for await event in events { collected.append(event) }
        #expect(collected.count == 1)
        #expect(collected[0].type == .error)
        #expect(collected[0].object["code"] == .number("410"))
        #expect(collected[0].object["reason"] == .string("Expired"))
        #expect(collected[0].object["message"]?.stringValue?.hasPrefix("too old resource version: 1 (") == true)
    }

    @Test("dropped watches end their streams")
    func dropWatches() async throws {
        let store = ObjectStore()
        let (events, _) = store.watch(.configMaps, namespace: nil, resourceVersion: nil)
        store.dropWatches()
        var count = 0
        for await _ in events { count += 1 }
        #expect(count == 0)
    }

    @Test("finalizers hold a deleted object until the last one is removed")
    func finalizers() throws {
        let store = ObjectStore()
        let created = try store.create(
            .services,
            object: ServiceStrategy().applyDefaults(
                to: try json(
                    #"{"metadata":{"name":"lb","namespace":"default","finalizers":["service.kubernetes.io/load-balancer-cleanup"]},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}"#
                )))
        let marked = try store.delete(.services, namespace: "default", name: "lb")
        #expect(marked["metadata"]?["deletionTimestamp"] != nil)
        #expect(
            try store.get(.services, namespace: "default", name: "lb")["metadata"]?["uid"]
                == created["metadata"]?["uid"])
        let released = try JSONPatch([.remove(path: JSONPointer("metadata", "finalizers"))]).apply(to: marked)
        _ = try store.update(.services, object: released, expectedRevision: nil)
        #expect(throws: APIStatus.notFound("services", "lb")) {
            try store.get(.services, namespace: "default", name: "lb")
        }
    }

    @Test("generation counts spec changes, not metadata changes (EndpointSlices)")
    func generation() throws {
        let store = ObjectStore()
        let slice = try store.create(
            .endpointSlices,
            object: json(
                #"{"metadata":{"name":"s","namespace":"default"},"addressType":"IPv4","endpoints":[],"ports":[]}"#))
        #expect(slice["metadata"]?["generation"] == .number("1"))
        let labelled = try store.update(
            .endpointSlices,
            object: JSONPatch([.add(path: JSONPointer("metadata", "labels"), value: .object(JSONObject()))]).apply(
                to: slice),
            expectedRevision: nil)
        #expect(labelled["metadata"]?["generation"] == .number("1"))
        let changed = try store.update(
            .endpointSlices,
            object: JSONPatch([.replace(path: JSONPointer("addressType"), value: .string("IPv6"))]).apply(to: labelled),
            expectedRevision: nil)
        #expect(changed["metadata"]?["generation"] == .number("2"))
    }
}

@Suite("Watch replay from resourceVersion=1 (fixtures 17d, 17h) and exact lists after compaction (17g)")
struct ReplayTests {
    @Test("the history since start replays as ADDED, MODIFIED, DELETED in order, the DELETED at a new version")
    func replay() async throws {
        let store = ObjectStore()
        let captured = try Self.events("17d-watch-configmaps-rv1-replay.ndjson")
        try Self.play(captured, into: store)
        let replayed = await Self.watchFromOne(store, count: captured.count)
        #expect(replayed.map(\.type.rawValue) == captured.compactMap { $0["type"]?.stringValue })
        #expect(replayed.map { $0.object["metadata"]?["name"] } == captured.map { $0["object"]?["metadata"]?["name"] })
        let versions = replayed.compactMap {
            $0.object["metadata"]?["resourceVersion"]?.stringValue.flatMap { Int($0) }
        }
        #expect(versions == versions.sorted())
        #expect(Set(versions).count == versions.count)  // the DELETED carries a version of its own
    }

    @Test("after an etcd compaction the watch still replays (17h) while an exact list of an older version is 410 (17g)")
    func afterCompaction() async throws {
        let store = ObjectStore()
        let captured = try Self.events("17h-watch-configmaps-rv1-after-compaction.ndjson")
        // 17h is 17d's history plus one ConfigMap created after the compaction.
        try Self.play(Array(captured.dropLast()), into: store)
        let beforeCompaction = store.revision
        store.compact()
        try Self.play([captured.last!], into: store)
        let replayed = await Self.watchFromOne(store, count: captured.count)
        #expect(replayed.map(\.type.rawValue) == captured.compactMap { $0["type"]?.stringValue })
        #expect(replayed.map { $0.object["metadata"]?["name"] } == captured.map { $0["object"]?["metadata"]?["name"] })

        #expect {
            try store.list(.configMaps, namespace: "team-a", exactRevision: beforeCompaction - 1)
        } throws: { error in
            JSONWriter.encode((error as! APIStatus).json)
                == JSONWriter.encode(try Fixtures.json("17g-list-configmaps-exact-rv-compacted.json"))
        }
        // At the compaction's revision and later, the list is the state at that revision.
        let atCompaction = try store.list(.configMaps, namespace: "team-a", exactRevision: beforeCompaction)
        #expect(atCompaction.revision == beforeCompaction)
        #expect(
            atCompaction.items.compactMap { $0["metadata"]?["name"]?.stringValue } == [
                "app-config", "kube-root-ca.crt",
            ])
        let now = try store.list(.configMaps, namespace: "team-a", exactRevision: store.revision)
        #expect(now.items.count == 3)
    }

    static func events(_ fixture: String) throws -> [JSONValue] {
        try Fixtures.text(fixture).split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
    }

    /// The first `count` events of a watch from resourceVersion=1; fewer if they have not all
    /// come within 5 s (the watch is then cancelled, so a short replay fails, never hangs).
    static func watchFromOne(_ store: ObjectStore, count: Int) async -> [WatchEvent] {
        let (events, cancel) = store.watch(.configMaps, namespace: "team-a", resourceVersion: 1)
        return await withTaskGroup(of: [WatchEvent]?.self) { group in
            group.addTask {
                var replayed: [WatchEvent] = []
                for await event in events {
                    replayed.append(event)
                    if replayed.count == count { break }
                }
                return replayed
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(5))
                cancel()
                return nil
            }
            let replayed = await group.next() ?? nil
            cancel()
            group.cancelAll()
            return replayed ?? []
        }
    }

    /// Plays captured watch events as writes against the store.
    static func play(_ captured: [JSONValue], into store: ObjectStore) throws {
        if (try? store.get(.namespaces, namespace: "", name: "team-a")) == nil {
            _ = try store.create(.namespaces, object: JSONParser.parse(Array(#"{"metadata":{"name":"team-a"}}"#.utf8)))
        }
        for event in captured {
            let object = try #require(event["object"])
            let name = try #require(object["metadata"]?["name"]?.stringValue)
            var fresh = object
            fresh = try JSONPatch([
                .remove(path: JSONPointer("metadata", "uid")),
                .remove(path: JSONPointer("metadata", "resourceVersion")),
            ]).apply(to: fresh)
            switch event["type"]?.stringValue {
            case "ADDED": _ = try store.create(.configMaps, object: fresh)
            case "MODIFIED": _ = try store.update(.configMaps, object: fresh, expectedRevision: nil)
            default: _ = try store.delete(.configMaps, namespace: "team-a", name: name)
            }
        }
    }
}
