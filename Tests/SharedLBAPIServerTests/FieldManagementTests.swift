import SharedLBCore
import Synchronization
import Testing

@testable import SharedLBAPIServer

/// Records what each admission call saw, then runs SharedLB's conversion.
final class RecordingAdmission: MutatingAdmission {
    let seen = Mutex<[AdmissionAttributes]>([])
    let inner = InProcessAdmission()

    func admit(_ attributes: AdmissionAttributes) async throws(APIStatus) -> JSONValue {
        seen.withLock { $0.append(attributes) }
        return try await inner.admit(attributes)
    }
}

/// managedFields without their times (the only part a replay cannot reproduce).
func owners(_ object: JSONValue?) -> [JSONValue] {
    (object?["metadata"]?["managedFields"]?.arrayValue ?? []).map { entry in
        guard case .object(var fields) = entry else { return entry }
        fields["time"] = nil
        return .object(fields)
    }
}

@Suite("Server-side apply and managedFields, against the captured kubectl apply --server-side (fixtures 03, 03b)")
struct ServerSideApplyTests {
    let handler: APIHandler
    let admission = RecordingAdmission()

    init() async {
        handler = APIHandler(token: nil, admission: [admission])
        for namespace in ["team-a", "team-b"] {
            _ = await handler.handle(
                APIRequest(
                    method: "POST", path: "/api/v1/namespaces", contentType: "application/json",
                    body: Array(#"{"metadata":{"name":"\#(namespace)"}}"#.utf8)))
        }
    }

    func apply(
        _ path: String, _ body: String, manager: String? = "kubectl", force: Bool = false,
        contentType: String = "application/apply-patch+yaml"
    ) async -> APIResponse {
        var query: [String: String] = [:]
        if let manager { query["fieldManager"] = manager }
        if force { query["force"] = "true" }
        return await handler.handle(
            APIRequest(method: "PATCH", path: path, query: query, contentType: contentType, body: Array(body.utf8)))
    }

    func body(_ response: APIResponse) -> JSONValue {
        if case .json(let document) = response.body { return document }
        return .null
    }

    func withoutClusterIPs(_ spec: JSONValue?) -> JSONValue? {
        guard case .object(var object)? = spec else { return spec }
        object["clusterIP"] = nil
        object["clusterIPs"] = nil
        return .object(object)
    }

    static let ssaPath = "/api/v1/namespaces/team-b/services/ssa-web"
    /// The bodies kubectl sent (`03-ssa-create-lb.kubectl.txt`, `03b-ssa-reapply-lb.kubectl.txt`).
    static let firstApply =
        #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"ssa-web","namespace":"team-b"},"spec":{"ports":[{"name":"http","port":80,"protocol":"TCP","targetPort":8080}],"selector":{"app":"ssa-web"},"type":"LoadBalancer"}}"#
    static let reapply =
        #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"ssa-web","namespace":"team-b"},"spec":{"ports":[{"name":"http","port":8080,"protocol":"TCP","targetPort":8080}],"selector":{"app":"ssa-web"},"type":"LoadBalancer"}}"#

    @Test("an apply that creates, then a re-apply with another port: what the webhook saw and what was stored")
    func fixtureReplay() async throws {
        for (config, fixture, code, operation) in [
            (Self.firstApply, "03-ssa-create-lb", 201, "CREATE"), (Self.reapply, "03b-ssa-reapply-lb", 200, "UPDATE"),
        ] {
            let response = await apply(Self.ssaPath, config)
            #expect(response.code == code, "\(fixture)")
            let stored = body(response)
            let captured = try Fixtures.json("\(fixture).stored.json")
            #expect(withoutClusterIPs(stored["spec"]) == withoutClusterIPs(captured["spec"]), "\(fixture)")
            #expect(stored["metadata"]?["labels"] == captured["metadata"]?["labels"], "\(fixture)")
            #expect(stored["metadata"]?["annotations"] == captured["metadata"]?["annotations"], "\(fixture)")
            #expect(owners(stored) == owners(captured), "\(fixture)")

            let review = try Fixtures.json("\(fixture).review.json")
            let seen = try #require(admission.seen.withLock { $0.last })
            #expect(seen.operation == operation)
            #expect(withoutClusterIPs(seen.object["spec"]) == withoutClusterIPs(review["request"]?["object"]?["spec"]))
            #expect(owners(seen.object) == owners(review["request"]?["object"]), "\(fixture)")
            let options = AdmissionReviewBuilder.review(seen, uid: "x")["request"]?["options"]
            #expect(options?["fieldManager"] == review["request"]?["options"]?["fieldManager"])
        }
        // The same apply again changes nothing: no new resourceVersion.
        let before = body(await handler.handle(APIRequest(method: "GET", path: Self.ssaPath)))
        let again = await apply(Self.ssaPath, Self.reapply)
        #expect(again.code == 200)
        #expect(body(again)["metadata"]?["resourceVersion"] == before["metadata"]?["resourceVersion"])
        #expect(owners(body(again)) == owners(before))
    }

    @Test("YAML configurations apply as JSON ones do (fixture 03's input file)")
    func yaml() async throws {
        let response = await apply(Self.ssaPath, try Fixtures.text("03-ssa-create-lb.input.yaml"))
        #expect(response.code == 201)
        #expect(owners(body(response)) == owners(try Fixtures.json("03-ssa-create-lb.stored.json")))
    }

    @Test("apply without fieldManager, and force on a merge patch, are 422 for the PatchOptions")
    func patchOptions() async throws {
        let missing = await apply(Self.ssaPath, Self.firstApply, manager: nil)
        #expect(missing.code == 422)
        // The body kube-apiserver sends (structure and text).
        #expect(
            JSONWriter.encode(body(missing))
                == #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch","reason":"Invalid","details":{"group":"meta.k8s.io","kind":"PatchOptions","causes":[{"reason":"FieldValueRequired","message":"Required value: is required for apply patch","field":"fieldManager"}]},"code":422}"#
        )
        _ = await apply(Self.ssaPath, Self.firstApply)
        let forced = await apply(
            Self.ssaPath, #"{"metadata":{"labels":{"a":"b"}}}"#, force: true,
            contentType: "application/merge-patch+json")
        #expect(forced.code == 422)
        #expect(
            body(forced)["message"]
                == .string(
                    #"PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch"#
                ))
        let wrongVersion = await apply(
            Self.ssaPath, #"{"apiVersion":"apps/v1","kind":"Service","metadata":{"name":"ssa-web"}}"#)
        #expect(wrongVersion.code == 400)
    }

    /// A ConfigMap created by a client-side `kubectl apply` (an Update manager).
    func clientSideApplied() async throws -> JSONValue {
        let created = await handler.handle(
            APIRequest(
                method: "POST", path: "/api/v1/namespaces/team-a/configmaps",
                query: ["fieldManager": "kubectl-client-side-apply"], contentType: "application/json",
                body: Array(#"{"metadata":{"name":"app"},"data":{"mode":"fast","level":"3"}}"#.utf8)))
        #expect(created.code == 201)
        return body(created)
    }

    @Test(
        "changing another manager's field is a conflict shaped like structured-merge-diff's; the same value is shared")
    func conflicts() async throws {
        let created = try await clientSideApplied()
        let owner = try #require(created["metadata"]?["managedFields"]?.arrayValue?.first?["time"]?.stringValue)
        let path = "/api/v1/namespaces/team-a/configmaps/app"
        let one = await apply(path, #"{"apiVersion":"v1","kind":"ConfigMap","data":{"mode":"slow"}}"#, manager: "helm")
        #expect(one.code == 409)
        #expect(
            body(one)["message"]
                == .string(
                    #"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1 at \#(owner): .data.mode"#
                ))
        let cause = body(one)["details"]?["causes"]?.arrayValue?.first
        #expect(cause?["reason"] == .string("FieldManagerConflict"))
        #expect(cause?["field"] == .string(".data.mode"))
        #expect(body(one)["details"]?["name"] == nil)

        let two = await apply(
            path, #"{"apiVersion":"v1","kind":"ConfigMap","data":{"mode":"slow","level":"4"}}"#, manager: "helm")
        #expect(
            body(two)["message"]
                == .string(
                    "Apply failed with 2 conflicts: conflicts with \"kubectl-client-side-apply\" using v1 at \(owner):\n- .data.level\n- .data.mode"
                ))

        // The value it already has: no conflict, and both own it.
        let same = await apply(path, #"{"apiVersion":"v1","kind":"ConfigMap","data":{"mode":"fast"}}"#, manager: "helm")
        #expect(same.code == 200)
        let shared = body(same)
        #expect(
            owners(shared).map { $0["manager"] } == [.string("helm"), .string("kubectl-client-side-apply")])
        #expect(owners(shared).allSatisfy { $0["fieldsV1"]?["f:data"]?["f:mode"] != nil })

        // force takes the field over.
        let forced = await apply(
            path, #"{"apiVersion":"v1","kind":"ConfigMap","data":{"mode":"slow"}}"#, manager: "helm", force: true)
        #expect(forced.code == 200)
        #expect(body(forced)["data"]?["mode"] == .string("slow"))
        let after = owners(body(forced))
        #expect(after.first { $0["manager"] == .string("helm") }?["fieldsV1"]?["f:data"]?["f:mode"] != nil)
        #expect(
            after.first { $0["manager"] == .string("kubectl-client-side-apply") }?["fieldsV1"]?["f:data"]?["f:mode"]
                == nil)
    }

    @Test("a field the applier stops applying is removed, unless another manager owns it too")
    func prune() async throws {
        let path = "/api/v1/namespaces/team-a/configmaps/pruned"
        let config =
            #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"labels":{"a":"1","b":"2"}},"data":{"x":"1","y":"2"}}"#
        #expect(await apply(path, config, manager: "ci").code == 201)
        // An Update manager adds z and changes x: x is now its, not ci's.
        let merge = await handler.handle(
            APIRequest(
                method: "PATCH", path: path, query: ["fieldManager": "operator"],
                contentType: "application/merge-patch+json", body: Array(#"{"data":{"x":"9","z":"3"}}"#.utf8)))
        #expect(merge.code == 200)
        // Another applier applies y with the value it has: it owns y too.
        _ = await apply(
            path, #"{"apiVersion":"v1","kind":"ConfigMap","data":{"y":"2","z":"3"}}"#, manager: "operator-apply")
        // ci now applies only label a: b is ci's alone and goes; x (the operator's now) and y
        // (shared) stay, as does z, which ci never applied.
        let reapplied = await apply(
            path, #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"labels":{"a":"1"}}}"#, manager: "ci")
        #expect(reapplied.code == 200)
        let object = body(reapplied)
        #expect(JSONWriter.encode(object["metadata"]?["labels"] ?? .null) == #"{"a":"1"}"#)
        #expect(JSONWriter.encode(object["data"] ?? .null) == #"{"x":"9","y":"2","z":"3"}"#)
    }

    @Test("an apply to /status owns status fields under subresource: status, apart from the same manager's spec")
    func statusApply() async throws {
        _ = await apply(Self.ssaPath, Self.firstApply, manager: "cloud")
        let response = await apply(
            Self.ssaPath + "/status",
            #"{"apiVersion":"v1","kind":"Service","metadata":{"name":"ssa-web"},"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.7"}]}}}"#,
            manager: "cloud")
        #expect(response.code == 200)
        let object = body(response)
        #expect(JSONWriter.encode(object["status"] ?? .null) == #"{"loadBalancer":{"ingress":[{"ip":"192.0.2.7"}]}}"#)
        let entries = owners(object).filter { $0["manager"] == .string("cloud") }
        #expect(entries.count == 2)
        let status = entries.first { $0["subresource"] == .string("status") }
        #expect(JSONWriter.encode(status?["fieldsV1"] ?? .null) == #"{"f:status":{"f:loadBalancer":{"f:ingress":{}}}}"#)
        // The spec applier is untouched: its selector is still applied and still there.
        #expect(object["spec"]?["selector"]?["app"] == .string("ssa-web"))
    }

    @Test("PUT or PATCH on a collection is 405, never a crash")
    func collectionWrites() async {
        for (method, contentType) in [
            ("PATCH", "application/apply-patch+yaml"), ("PATCH", "application/merge-patch+json"),
            ("PUT", "application/json"),
        ] {
            let response = await handler.handle(
                APIRequest(
                    method: method, path: "/api/v1/namespaces/team-a/configmaps", query: ["fieldManager": "x"],
                    contentType: contentType, body: Array(#"{"apiVersion":"v1","kind":"ConfigMap"}"#.utf8)))
            #expect(response.code == 405, "\(method) \(contentType)")
        }
    }

    @Test("every write's ?fieldManager= reaches the webhook in the review's options, as fixtures 01 and 07 show")
    func optionsFieldManager() async throws {
        _ = await handler.handle(
            APIRequest(
                method: "POST", path: "/api/v1/namespaces/team-a/services",
                query: ["fieldManager": "kubectl-client-side-apply"], contentType: "application/json",
                body: Array(#"{"metadata":{"name":"db"},"spec":{"type":"LoadBalancer","ports":[{"port":5432}]}}"#.utf8))
        )
        let seen = try #require(admission.seen.withLock { $0.last })
        let options = AdmissionReviewBuilder.review(seen, uid: "x")["request"]?["options"]
        let captured = try Fixtures.json("01-apply-lb-plain.review.json")["request"]?["options"]
        #expect(options?["fieldManager"] == captured?["fieldManager"])
    }

    @Test("YAML keeps its key order, and a date stays the string it is written as")
    func yamlScalars() async throws {
        let response = await apply(
            "/api/v1/namespaces/team-a/configmaps/dated",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dated\ndata:\n  when: 2026-11-27\n  count: \"3\"\n",
            manager: "ci")
        #expect(response.code == 201)
        #expect(JSONWriter.encode(body(response)["data"] ?? .null) == #"{"count":"3","when":"2026-11-27"}"#)
    }

    @Test("fieldsV1 lists items by their key values, numbers as numbers (port 80 before 443)")
    func fieldsOrder() async throws {
        let response = await apply(
            "/api/v1/namespaces/team-a/services/web",
            #"{"apiVersion":"v1","kind":"Service","spec":{"type":"ClusterIP","ports":[{"name":"https","port":443,"protocol":"TCP"},{"name":"http","port":80,"protocol":"TCP"}]}}"#,
            manager: "ci")
        #expect(response.code == 201)
        let fields = try #require(owners(body(response)).first?["fieldsV1"]?["f:spec"]?["f:ports"]?.objectValue)
        #expect(fields.members.map(\.key) == [#"k:{"port":80,"protocol":"TCP"}"#, #"k:{"port":443,"protocol":"TCP"}"#])
    }

    @Test("the status subresource records its writer with subresource: status, as fixture 19a shows")
    func statusManager() async throws {
        _ = await apply(Self.ssaPath, Self.firstApply)
        let status = await handler.handle(
            APIRequest(
                method: "PATCH", path: Self.ssaPath + "/status", query: ["fieldManager": "sharedlb-controller"],
                contentType: "application/merge-patch+json",
                body: Array(#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.201"}]}}}"#.utf8)))
        #expect(status.code == 200)
        let entry = owners(body(status)).first { $0["manager"] == .string("sharedlb-controller") }
        #expect(
            entry.map { JSONWriter.encode($0) }
                == #"{"manager":"sharedlb-controller","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:loadBalancer":{"f:ingress":{}}}},"subresource":"status"}"#
        )
    }
}

@Suite("Strategic merge patch, by the Kubernetes schema's merge keys")
struct StrategicMergePatchTests {
    let service = StrategicMergePatch(schema: FieldSchema.of(.services))

    func json(_ text: String) throws -> JSONValue { try JSONParser.parse(Array(text.utf8)) }

    func apply(_ patch: String, to target: String) throws -> String {
        JSONWriter.encode(try service.apply(try json(patch), to: try json(target)))
    }

    @Test("ports merge by port; maps merge (selector too); other lists are replaced")
    func merge() throws {
        let target =
            #"{"spec":{"ports":[{"name":"a","port":80,"targetPort":8080},{"name":"b","port":443}],"selector":{"app":"x"},"externalIPs":["192.0.2.1"]}}"#
        #expect(
            try apply(
                #"{"spec":{"ports":[{"port":443,"targetPort":8443},{"port":53,"protocol":"UDP"}],"selector":{"tier":"y"},"externalIPs":["192.0.2.2"]}}"#,
                to: target)
                == #"{"spec":{"ports":[{"name":"a","port":80,"targetPort":8080},{"name":"b","port":443,"targetPort":8443},{"port":53,"protocol":"UDP"}],"selector":{"app":"x","tier":"y"},"externalIPs":["192.0.2.2"]}}"#
        )
    }

    @Test("directives: $patch delete and replace, $deleteFromPrimitiveList, $setElementOrder, $retainKeys, null")
    func directives() throws {
        let target =
            #"{"metadata":{"finalizers":["a","b"],"labels":{"k":"v","gone":"x"}},"spec":{"ports":[{"port":80},{"port":81},{"port":82}]}}"#
        #expect(
            try apply(#"{"spec":{"ports":[{"port":81,"$patch":"delete"}]}}"#, to: target)
                == #"{"metadata":{"finalizers":["a","b"],"labels":{"k":"v","gone":"x"}},"spec":{"ports":[{"port":80},{"port":82}]}}"#
        )
        #expect(
            try apply(#"{"spec":{"ports":[{"port":9},{"$patch":"replace"}]}}"#, to: target)
                == #"{"metadata":{"finalizers":["a","b"],"labels":{"k":"v","gone":"x"}},"spec":{"ports":[{"port":9}]}}"#
        )
        #expect(
            try apply(
                #"{"metadata":{"finalizers":["c"],"$deleteFromPrimitiveList/finalizers":["a"],"labels":{"gone":null}}}"#,
                to: target)
                == #"{"metadata":{"finalizers":["b","c"],"labels":{"k":"v"}},"spec":{"ports":[{"port":80},{"port":81},{"port":82}]}}"#
        )
        #expect(
            try apply(#"{"spec":{"$setElementOrder/ports":[{"port":82},{"port":80},{"port":81}]}}"#, to: target)
                == #"{"metadata":{"finalizers":["a","b"],"labels":{"k":"v","gone":"x"}},"spec":{"ports":[{"port":82},{"port":80},{"port":81}]}}"#
        )
        #expect(
            try apply(#"{"metadata":{"labels":{"$patch":"replace","new":"1"}}}"#, to: target)
                == #"{"metadata":{"finalizers":["a","b"],"labels":{"new":"1"}},"spec":{"ports":[{"port":80},{"port":81},{"port":82}]}}"#
        )
        #expect(
            try apply(
                #"{"spec":{"$retainKeys":["ports"],"ports":[{"port":80,"name":"x"}]}}"#,
                to: #"{"spec":{"ports":[{"port":80}],"type":"ClusterIP"}}"#)
                == #"{"spec":{"ports":[{"port":80,"name":"x"}]}}"#
        )
    }

    @Test("$patch: delete inside a list item's map removes that map; inside the list, the item")
    func nestedDelete() throws {
        #expect(
            try apply(
                #"{"spec":{"ports":[{"port":80,"extra":{"$patch":"delete"}}]}}"#,
                to: #"{"spec":{"ports":[{"port":80,"extra":{"a":1}},{"port":81}]}}"#)
                == #"{"spec":{"ports":[{"port":80},{"port":81}]}}"#)
    }

    @Test("fixture 19c's status patch replaces the ingress list")
    func statusPatch() throws {
        #expect(
            try apply(
                #"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.201","hostname":"lb-1.example.net"}]}}}"#,
                to: #"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.200"}]}}}"#)
                == #"{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.201","hostname":"lb-1.example.net"}]}}}"#)
    }

    @Test("an item without the merge key, or an unknown $patch, is 400 Bad Request")
    func errors() throws {
        #expect(throws: APIStatus.self) { try apply(#"{"spec":{"ports":[{"name":"x"}]}}"#, to: #"{"spec":{}}"#) }
        do {
            _ = try apply(#"{"spec":{"$patch":"explode"}}"#, to: #"{"spec":{}}"#)
            Issue.record("accepted an unknown directive")
        } catch let status as APIStatus {
            #expect(status.code == 400)
        }
    }
}

@Suite("EndpointSlices read like kube-apiserver's (fixtures 13d, 13e)")
struct EndpointSliceShapeTests {
    @Test(
        "a slice written in any field order is stored in Go's order, owned as the controller's was; a list by service")
    func sliceShape() async throws {
        let captured = try Fixtures.json("13e-get-endpointslice.json")
        let handler = APIHandler(token: nil)
        _ = await handler.handle(
            APIRequest(
                method: "POST", path: "/api/v1/namespaces", contentType: "application/json",
                body: Array(#"{"metadata":{"name":"team-a"}}"#.utf8)))
        // What the controller sent: no server-set metadata, fields in reverse order.
        guard case .object(var slice) = captured, case .object(var metadata)? = slice["metadata"] else {
            Issue.record("fixture is not an object")
            return
        }
        for field in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"] {
            metadata[field] = nil
        }
        slice["metadata"] = .object(metadata)
        func reversed(_ value: JSONValue) -> JSONValue {
            switch value {
            case .object(let object):
                return .object(
                    JSONObject(members: object.members.reversed().map { JSONObject.Member($0.key, reversed($0.value)) })
                )
            case .array(let items): return .array(items.map(reversed))
            default: return value
            }
        }
        let created = await handler.handle(
            APIRequest(
                method: "POST", path: "/apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices",
                query: ["fieldManager": "kube-controller-manager"], contentType: "application/json",
                body: Array(JSONWriter.encode(reversed(.object(slice))).utf8)))
        #expect(created.code == 201)

        let response = await handler.handle(
            APIRequest(method: "GET", path: "/apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices/web-eps-xpkxb"))
        guard case .json(let stored) = response.body else {
            Issue.record("no JSON")
            return
        }
        func withoutServerValues(_ value: JSONValue) -> String {
            guard case .object(var root) = value, case .object(var metadata)? = root["metadata"] else { return "" }
            for field in ["uid", "resourceVersion", "creationTimestamp", "generation"] { metadata[field] = .null }
            metadata["managedFields"] = .array(owners(value))
            root["metadata"] = .object(metadata)
            return JSONWriter.encode(.object(root))
        }
        // Byte for byte but for uid, resourceVersion, times and generation (4 after the controller's updates).
        #expect(withoutServerValues(stored) == withoutServerValues(captured))

        let list = await handler.handle(
            APIRequest(
                method: "GET", path: "/apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices",
                query: ["labelSelector": "kubernetes.io/service-name=web-eps"]))
        guard case .json(let listed) = list.body else {
            Issue.record("no JSON")
            return
        }
        let capturedList = try Fixtures.json("13d-list-endpointslices-by-service.json")
        #expect(listed.objectValue?.members.map(\.key) == capturedList.objectValue?.members.map(\.key))
        #expect(listed["kind"] == capturedList["kind"])
        #expect(listed["apiVersion"] == capturedList["apiVersion"])
        #expect(listed["metadata"]?.objectValue?.members.map(\.key) == ["resourceVersion"])
        let item = try #require(listed["items"]?.arrayValue?.first)
        let capturedItem = try #require(capturedList["items"]?.arrayValue?.first)
        #expect(item.objectValue?.members.map(\.key) == capturedItem.objectValue?.members.map(\.key))
        #expect(item["endpoints"] == capturedItem["endpoints"])
        #expect(item["ports"] == capturedItem["ports"])
        let other = await handler.handle(
            APIRequest(
                method: "GET", path: "/apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices",
                query: ["labelSelector": "kubernetes.io/service-name=other"]))
        if case .json(let empty) = other.body { #expect(empty["items"] == .array([])) }
    }
}
