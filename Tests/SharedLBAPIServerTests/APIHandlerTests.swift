import SharedLBCore
import Testing

@testable import SharedLBAPIServer

/// Applies a fixed JSON patch to Services, like the capturing webhook of the fixtures did.
struct FixedPatchAdmission: MutatingAdmission {
    let patch: JSONPatch

    func admit(_ attributes: AdmissionAttributes) async throws(APIStatus) -> JSONValue {
        do {
            return try patch.apply(to: attributes.object)
        } catch {
            throw APIStatus.internalError("\(error)")
        }
    }
}

@Suite("REST semantics of the API test server")
struct APIHandlerTests {
    let token = "test-token"

    func request(
        _ method: String, _ path: String, query: [String: String] = [:], contentType: String? = "application/json",
        body: String = ""
    ) -> APIRequest {
        APIRequest(
            method: method, path: path, query: query, contentType: contentType, bearerToken: token,
            body: Array(body.utf8))
    }

    func json(_ response: APIResponse) throws -> JSONValue {
        guard case .json(let document) = response.body else {
            Issue.record("expected a JSON body")
            return .null
        }
        return document
    }

    func namespace(_ handler: APIHandler, _ name: String) async {
        _ = await handler.handle(request("POST", "/api/v1/namespaces", body: #"{"metadata":{"name":"\#(name)"}}"#))
    }

    @Test("a plain LoadBalancer create goes through SharedLB's conversion and is stored like fixture 01")
    func convertedCreate() async throws {
        let handler = APIHandler(token: token, admission: [InProcessAdmission()])
        await namespace(handler, "team-a")
        let manifest = JSONWriter.encode(try Fixtures.json("01-apply-lb-plain.input.json"))
        let response = await handler.handle(request("POST", "/api/v1/namespaces/team-a/services", body: manifest))
        #expect(response.code == 201)
        let created = try json(response)
        let stored = try Fixtures.json("01-apply-lb-plain.stored.json")
        // Same spec as the real server stored, except the randomly allocated cluster IP.
        var spec = try #require(created["spec"]?.objectValue)
        var expected = try #require(stored["spec"]?.objectValue)
        for field in ["clusterIP", "clusterIPs"] {
            #expect(spec[field] != nil)
            spec[field] = nil
            expected[field] = nil
        }
        // (kubectl sorts keys in `-o json`, so stored.json says nothing about field order.)
        #expect(spec == expected)
        #expect(created["metadata"]?["labels"] == stored["metadata"]?["labels"])
        #expect(
            created["metadata"]?["annotations"]?["sharedlb.io/requested"]
                == stored["metadata"]?["annotations"]?["sharedlb.io/requested"])
        #expect(created["status"] == stored["status"])
    }

    @Test("a webhook that leaves externalTrafficPolicy gets the 422 of fixture 11")
    func rejectedAfterAdmission() async throws {
        let patch = try JSONPatch(json: Fixtures.json("11-lb-externalips.patch.json"))
        let handler = APIHandler(token: token, admission: [FixedPatchAdmission(patch: patch)])
        await namespace(handler, "team-b")
        let object = try #require(try Fixtures.json("11-lb-externalips.review.json")["request"]?["object"])
        let response = await handler.handle(
            request("POST", "/api/v1/namespaces/team-b/services", body: JSONWriter.encode(object)))
        #expect(response.code == 422)
        #expect(
            "The \(try json(response)["message"]!.stringValue!)\n" == (try Fixtures.text("11-lb-externalips.error.txt"))
        )
    }

    @Test("errors: 401 without the token, 404 and 409 shaped like the fixtures")
    func errors() async throws {
        let handler = APIHandler(token: token)
        var anonymous = request("GET", "/api/v1/namespaces/default/services")
        anonymous.bearerToken = nil
        #expect(await handler.handle(anonymous).code == 401)
        let missing = await handler.handle(request("GET", "/api/v1/namespaces/default/services/does-not-exist"))
        #expect(missing.code == 404)
        #expect(JSONWriter.encode(try json(missing)) + "\n" == (try Fixtures.text("16a-get-missing-service.json")))
        let body = #"{"metadata":{"name":"app-config"},"data":{"a":"1"}}"#
        #expect(await handler.handle(request("POST", "/api/v1/namespaces/default/configmaps", body: body)).code == 201)
        let duplicate = await handler.handle(request("POST", "/api/v1/namespaces/default/configmaps", body: body))
        #expect(duplicate.code == 409)
        #expect(try json(duplicate)["reason"] == .string("AlreadyExists"))
        let stale = #"{"metadata":{"name":"app-config","resourceVersion":"1"},"data":{"a":"2"}}"#
        let conflict = await handler.handle(
            request("PUT", "/api/v1/namespaces/default/configmaps/app-config", body: stale))
        #expect(conflict.code == 409)
        #expect(try json(conflict)["reason"] == .string("Conflict"))
        #expect(await handler.handle(request("GET", "/api/v1/namespaces/default/widgets")).code == 404)
        let wrongType = await handler.handle(
            request("POST", "/api/v1/namespaces/default/configmaps", contentType: "text/yaml", body: body))
        #expect(wrongType.code == 415)
    }

    @Test("lists have the List kind, resourceVersion, continue, and items without kind/apiVersion")
    func lists() async throws {
        let handler = APIHandler(token: token)
        for name in ["a", "b", "c"] {
            _ = await handler.handle(
                request(
                    "POST", "/api/v1/namespaces/default/configmaps",
                    body: #"{"metadata":{"name":"\#(name)","labels":{"x":"y"}}}"#))
        }
        let response = await handler.handle(
            request("GET", "/api/v1/configmaps", query: ["labelSelector": "x=y", "limit": "2"], contentType: nil))
        let list = try json(response)
        #expect(list["kind"] == .string("ConfigMapList"))
        #expect(list["apiVersion"] == .string("v1"))
        #expect(list["metadata"]?["continue"] != nil)
        #expect(list["items"]?.arrayValue?.count == 2)
        #expect(list["items"]?.arrayValue?.first?["kind"] == nil)
        let rest = try json(
            await handler.handle(
                request(
                    "GET", "/api/v1/configmaps",
                    query: ["labelSelector": "x=y", "continue": list["metadata"]!["continue"]!.stringValue!],
                    contentType: nil)))
        #expect(rest["items"]?.arrayValue?.map { $0["metadata"]?["name"] } == [.string("c")])
        #expect(rest["metadata"]?["resourceVersion"] == list["metadata"]?["resourceVersion"])
    }

    @Test("a re-apply (merge patch back to LoadBalancer) of a managed Service is converted again")
    func reapply() async throws {
        let handler = APIHandler(token: token, admission: [InProcessAdmission()])
        let manifest =
            #"{"metadata":{"name":"web"},"spec":{"type":"LoadBalancer","selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":8080}]}}"#
        let created = try json(
            await handler.handle(request("POST", "/api/v1/namespaces/default/services", body: manifest)))
        let patch = #"{"spec":{"type":"LoadBalancer","ports":[{"name":"http","port":8080,"targetPort":8080}]}}"#
        let response = await handler.handle(
            request(
                "PATCH", "/api/v1/namespaces/default/services/web", contentType: "application/merge-patch+json",
                body: patch))
        #expect(response.code == 200)
        let patched = try json(response)
        #expect(patched["spec"]?["type"] == .string("ClusterIP"))
        #expect(patched["spec"]?["clusterIP"] == created["spec"]?["clusterIP"])
        #expect(patched["spec"]?["ports"]?.arrayValue?.first?["nodePort"] == nil)
        #expect(
            patched["metadata"]?["annotations"]?["sharedlb.io/requested"]?.stringValue?.contains(#""port":8080"#)
                == true)
    }

    @Test(
        "UPDATE of a real LoadBalancer to ClusterIP: the server drops what it may, source ranges stay and are refused")
    func typeChangeCleanup() async throws {
        let handler = APIHandler(token: token)
        let manifest =
            #"{"metadata":{"name":"real"},"spec":{"type":"LoadBalancer","externalTrafficPolicy":"Local","loadBalancerSourceRanges":["203.0.113.0/24"],"ports":[{"port":80}]}}"#
        let created = try json(
            await handler.handle(request("POST", "/api/v1/namespaces/default/services", body: manifest)))
        #expect(created["spec"]?["healthCheckNodePort"] != nil)
        #expect(created["spec"]?["ports"]?.arrayValue?.first?["nodePort"] != nil)
        let toClusterIP = #"{"spec":{"type":"ClusterIP"}}"#
        let refused = await handler.handle(
            request(
                "PATCH", "/api/v1/namespaces/default/services/real", contentType: "application/merge-patch+json",
                body: toClusterIP))
        #expect(refused.code == 422)
        #expect(
            try json(refused)["message"]
                == .string(
                    "Service \"real\" is invalid: spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"
                ))
        let withRanges = #"{"spec":{"type":"ClusterIP","loadBalancerSourceRanges":null}}"#
        let accepted = try json(
            await handler.handle(
                request(
                    "PATCH", "/api/v1/namespaces/default/services/real", contentType: "application/merge-patch+json",
                    body: withRanges)))
        #expect(accepted["spec"]?["type"] == .string("ClusterIP"))
        #expect(accepted["spec"]?["healthCheckNodePort"] == nil)
        #expect(accepted["spec"]?["externalTrafficPolicy"] == nil)
    }

    @Test("status is written only through /status, which the main resource cannot change")
    func statusSubresource() async throws {
        let handler = APIHandler(token: token)
        _ = await handler.handle(
            request(
                "POST", "/api/v1/namespaces/default/services",
                body: #"{"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","ports":[{"port":80}]}}"#))
        let ingress = #"{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.7"}]}}}"#
        let viaMain = try json(
            await handler.handle(
                request(
                    "PATCH", "/api/v1/namespaces/default/services/lb", contentType: "application/merge-patch+json",
                    body: ingress)))
        #expect(viaMain["status"]?["loadBalancer"]?["ingress"] == nil)
        let viaStatus = try json(
            await handler.handle(
                request(
                    "PATCH", "/api/v1/namespaces/default/services/lb/status",
                    contentType: "application/strategic-merge-patch+json",
                    body: ingress)))
        #expect(viaStatus["status"]?["loadBalancer"]?["ingress"]?.arrayValue?.first?["ip"] == .string("203.0.113.7"))
        #expect(handler.requestLog.writes(to: "services") == 3)
        #expect(handler.requestLog.all.last?.subresource == "status")
    }

    @Test("a JSON patch that does not apply is a 422 and changes nothing")
    func jsonPatchFailure() async throws {
        let handler = APIHandler(token: token)
        _ = await handler.handle(
            request("POST", "/api/v1/namespaces/default/configmaps", body: #"{"metadata":{"name":"c"}}"#))
        let response = await handler.handle(
            request(
                "PATCH", "/api/v1/namespaces/default/configmaps/c", contentType: "application/json-patch+json",
                body: #"[{"op":"remove","path":"/data/missing"}]"#))
        #expect(response.code == 422)
    }

    @Test("a watch streams replayed and live events and ends at timeoutSeconds, with bookmarks")
    func watch() async throws {
        let handler = APIHandler(token: token, bookmarkInterval: .milliseconds(50))
        _ = await handler.handle(
            request("POST", "/api/v1/namespaces/default/configmaps", body: #"{"metadata":{"name":"a"}}"#))
        let response = await handler.handle(
            request(
                "GET", "/api/v1/namespaces/default/configmaps",
                query: ["watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": "1"], contentType: nil))
        guard case .watch(let stream) = response.body else {
            Issue.record("not a watch")
            return
        }
        let collector = EventCollector()
        try await stream.run { event in
            await collector.add(event)
            if event.type == .added, await collector.count < 3 {
                _ = await handler.handle(
                    request(
                        "POST", "/api/v1/namespaces/default/configmaps",
                        body: #"{"metadata":{"name":"b\#(await collector.count)"}}"#))
            }
        }
        let events = await collector.events
        // No resourceVersion: the existing object first, then the one created while watching.
        #expect(events.first?.type == .added)
        #expect(events.first?.object["metadata"]?["name"] == .string("a"))
        #expect(events.filter { $0.type == .added }.count >= 2)
        let bookmark = try #require(events.first { $0.type == .bookmark })
        #expect(bookmark.object["metadata"]?["creationTimestamp"] == .null)
        #expect(bookmark.object["kind"] == .string("ConfigMap"))
    }
}

actor EventCollector {
    var events: [WatchEvent] = []
    var count: Int { events.count }

    func add(_ event: WatchEvent) {
        events.append(event)
    }
}

@Suite("Stored objects read like kube-apiserver's (fixture 13a)")
struct StoredShapeTests {
    @Test("a converted Service GET has the real top-level, metadata and spec field order and values")
    func serviceShape() async throws {
        let captured = try Fixtures.json("13a-get-service.json")
        let handler = APIHandler(token: nil, admission: [InProcessAdmission()])
        _ = await handler.handle(
            APIRequest(
                method: "POST", path: "/api/v1/namespaces", contentType: "application/json",
                body: Array(#"{"metadata":{"name":"team-a"}}"#.utf8)))
        // The manifest of that Service (its last-applied-configuration), created through the handler.
        let manifest = try #require(
            captured["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"]?.stringValue)
        // kubectl apply (client side) sends its manager; the label came from `kubectl patch`.
        var withAnnotation = try JSONParser.parse(Array(manifest.utf8))
        withAnnotation = JSONMergePatch.apply(
            .object(
                JSONObject([
                    (
                        "metadata",
                        .object(
                            JSONObject([
                                (
                                    "annotations",
                                    .object(
                                        JSONObject([
                                            ("kubectl.kubernetes.io/last-applied-configuration", .string(manifest))
                                        ]))
                                )
                            ]))
                    )
                ])), to: withAnnotation)
        let created = await handler.handle(
            APIRequest(
                method: "POST", path: "/api/v1/namespaces/team-a/services",
                query: ["fieldManager": "kubectl-client-side-apply"], contentType: "application/json",
                body: Array(JSONWriter.encode(withAnnotation).utf8)))
        #expect(created.code == 201)
        let patched = await handler.handle(
            APIRequest(
                method: "PATCH", path: "/api/v1/namespaces/team-a/services/web",
                contentType: "application/strategic-merge-patch+json", userAgent: "kubectl-patch/v1.32.4 (linux/amd64)",
                body: Array(#"{"metadata":{"labels":{"tier":"frontend"}}}"#.utf8)))
        #expect(patched.code == 200)
        let response = await handler.handle(APIRequest(method: "GET", path: "/api/v1/namespaces/team-a/services/web"))
        guard case .json(let stored) = response.body else {
            Issue.record("no JSON")
            return
        }
        #expect(stored.objectValue?.members.map(\.key) == captured.objectValue?.members.map(\.key))
        #expect(
            stored["metadata"]?.objectValue?.members.map(\.key) == captured["metadata"]?.objectValue?.members.map(\.key)
        )
        #expect(stored["metadata"]?["labels"] == captured["metadata"]?["labels"])
        // Who owns what, as kube-apiserver recorded it (defaults included, the webhook's changes
        // not attributed); only the times differ.
        func owners(_ object: JSONValue) -> [JSONValue] {
            (object["metadata"]?["managedFields"]?.arrayValue ?? []).map { entry in
                guard case .object(var fields) = entry else { return entry }
                fields["time"] = nil
                return .object(fields)
            }
        }
        #expect(owners(stored) == owners(captured))
        #expect(stored["spec"]?.objectValue?.members.map(\.key) == captured["spec"]?.objectValue?.members.map(\.key))
        var spec = try #require(stored["spec"]?.objectValue)
        var expected = try #require(captured["spec"]?.objectValue)
        for field in ["clusterIP", "clusterIPs"] {
            spec[field] = nil
            expected[field] = nil
        }
        #expect(spec == expected)
        #expect(stored["status"] == captured["status"])
        #expect(
            stored["metadata"]?["annotations"]?["sharedlb.io/requested"]
                == captured["metadata"]?["annotations"]?["sharedlb.io/requested"])
    }
}

extension APIHandlerTests {
    @Test("a merge patch carrying metadata.resourceVersion is a compare-and-swap: 409 when stale")
    func patchWithResourceVersion() async throws {
        let handler = APIHandler(token: token)
        await namespace(handler, "team-a")
        let created = try json(
            await handler.handle(
                request(
                    "POST", "/api/v1/namespaces/team-a/configmaps",
                    body: #"{"metadata":{"name":"ledger"},"data":{"a":"1"}}"#)))
        let version = try #require(created["metadata"]?["resourceVersion"]?.stringValue)
        let patch = #"{"metadata":{"resourceVersion":"\#(version)"},"data":{"a":"2"}}"#
        let first = await handler.handle(
            request(
                "PATCH", "/api/v1/namespaces/team-a/configmaps/ledger", contentType: "application/merge-patch+json",
                body: patch))
        #expect(first.code == 200)
        let second = await handler.handle(
            request(
                "PATCH", "/api/v1/namespaces/team-a/configmaps/ledger", contentType: "application/merge-patch+json",
                body: patch))
        #expect(second.code == 409)
        #expect(try json(second)["reason"]?.stringValue == "Conflict")
    }

    @Test("an update that leaves node ports out keeps each port's by name, as patchAllocatedValues does")
    func nodePortsKept() async throws {
        let handler = APIHandler(token: token)
        await namespace(handler, "ns")
        let created = try json(
            await handler.handle(
                request(
                    "POST", "/api/v1/namespaces/ns/services",
                    body:
                        #"{"metadata":{"name":"lb"},"spec":{"type":"LoadBalancer","ports":[{"name":"tcp-80","port":80},{"name":"tcp-443","port":443}]}}"#
                )))
        let nodePorts = (created["spec"]?["ports"]?.arrayValue ?? []).compactMap { $0["nodePort"] }
        #expect(nodePorts.count == 2)
        // A merge patch replacing the port list without node ports: 443 goes, 8443 comes.
        let patched = try json(
            await handler.handle(
                request(
                    "PATCH", "/api/v1/namespaces/ns/services/lb", contentType: "application/merge-patch+json",
                    body: #"{"spec":{"ports":[{"name":"tcp-80","port":80},{"name":"tcp-8443","port":8443}]}}"#)))
        let ports = patched["spec"]?["ports"]?.arrayValue ?? []
        #expect(ports.first?["nodePort"] == nodePorts.first)
        #expect(ports.last?["nodePort"] != nil)
        #expect(ports.last?["nodePort"] != nodePorts.last)
    }
}
