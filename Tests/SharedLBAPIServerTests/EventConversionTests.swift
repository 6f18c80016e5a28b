import Foundation
import SharedLBCore
import Testing

@testable import SharedLBAPIServer

/// kube-apiserver serves one Event resource through core/v1 and events.k8s.io/v1; fixtures
/// 13m and 13n are the same stored Event read both ways.
@Suite("core/v1 and events.k8s.io/v1 Events are one resource (fixtures 13m, 13n)")
struct EventConversionTests {
    let name = "events-demo.18ebc73365b7c18d"

    func store() throws -> ObjectStore {
        let store = ObjectStore()
        _ = try store.create(
            .namespaces,
            object: JSONParser.parse(
                Array(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}}"#.utf8)))
        return store
    }

    /// A captured object as a client would send it: without the fields the server sets.
    func request(_ fixture: String) throws -> JSONValue {
        let object = try Fixtures.json(fixture)
        var metadata = try #require(object["metadata"]?.objectValue)
        metadata.members.removeAll { ["uid", "resourceVersion", "creationTimestamp"].contains($0.key) }
        return ObjectStore.withMetadata(object, metadata)
    }

    /// A captured object with the metadata this store gave it (uid, resourceVersion, time).
    func expected(_ fixture: String, storedAs stored: JSONValue) throws -> String {
        JSONWriter.encode(
            ObjectStore.withMetadata(try Fixtures.json(fixture), try #require(stored["metadata"]?.objectValue)))
    }

    @Test("an Event recorded through core/v1 reads through events.k8s.io/v1 exactly as kube-apiserver shows it")
    func coreReadAsEventsV1() throws {
        let store = try store()
        let stored = try store.create(.events, object: request("13m-get-event.json"))
        let viaEventsV1 = try store.get(.eventsV1, namespace: "team-a", name: name)
        #expect(JSONWriter.encode(viaEventsV1) == (try expected("13n-get-event-events-v1.json", storedAs: stored)))
        let viaCore = try store.get(.events, namespace: "team-a", name: name)
        #expect(JSONWriter.encode(viaCore) == (try expected("13m-get-event.json", storedAs: stored)))
    }

    @Test(
        "an Event written through events.k8s.io/v1 reads through core/v1 as kube-apiserver shows it (creation validation aside)"
    )
    func eventsV1ReadAsCore() throws {
        let store = try store()
        let created = try store.create(.eventsV1, object: request("13n-get-event-events-v1.json"))
        #expect(JSONWriter.encode(created) == (try expected("13n-get-event-events-v1.json", storedAs: created)))
        let viaCore = try store.get(.events, namespace: "team-a", name: name)
        #expect(JSONWriter.encode(viaCore) == (try expected("13m-get-event.json", storedAs: created)))
    }

    @Test("creation through events.k8s.io/v1 is validated strictly, through core/v1 by the legacy rules")
    func validation() async throws {
        let handler = APIHandler(store: try store(), token: nil)
        func post(_ path: String, _ object: JSONValue) async -> APIResponse {
            await handler.handle(
                APIRequest(
                    method: "POST", path: path, contentType: "application/json",
                    body: Array(JSONWriter.encode(object).utf8)))
        }
        func message(_ response: APIResponse) -> String? {
            if case .json(let status) = response.body { return status["message"]?.stringValue }
            return nil
        }
        // 13n's Event is what a core/v1 client recorded: events.k8s.io/v1 refuses to create it.
        let legacyShaped = try request("13n-get-event-events-v1.json")
        let refused = await post("/apis/events.k8s.io/v1/namespaces/team-a/events", legacyShaped)
        #expect(refused.code == 422)
        #expect(
            message(refused)
                == #"Event "\#(name)" is invalid: [eventTime: Required value, firstTimestamp: Invalid value: "": needs to be unset, lastTimestamp: Invalid value: "": needs to be unset, count: Invalid value: "": needs to be unset, source: Invalid value: "": needs to be unset]"#
        )
        // Through core/v1 the same Event is fine (13m was created so).
        #expect(await post("/api/v1/namespaces/team-a/events", try request("13m-get-event.json")).code == 201)

        // A new-style Event needs its reporting fields, whichever API writes it.
        var event = try #require(legacyShaped.objectValue)
        for field in ["deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"] {
            event[field] = nil
        }
        event["eventTime"] = .string("2026-11-27T02:51:40.000000Z")
        event["metadata"] = .object(JSONObject([("name", .string("new-style"))]))
        let incomplete = await post("/apis/events.k8s.io/v1/namespaces/team-a/events", .object(event))
        #expect(
            message(incomplete)
                == #"Event "new-style" is invalid: [reportingController: Required value, reportingController: Invalid value: "": name part must be non-empty, reportingController: Invalid value: "": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), reportingInstance: Required value, action: Required value]"#
        )
        event["reportingController"] = .string("sharedlb.io/allocator")
        event["reportingInstance"] = .string("allocator-0")
        event["action"] = .string("Scale")
        #expect(await post("/apis/events.k8s.io/v1/namespaces/team-a/events", .object(event)).code == 201)

        // Through events.k8s.io/v1 a recorded Event keeps what it said; a series may grow.
        func patch(_ body: String) async -> APIResponse {
            await handler.handle(
                APIRequest(
                    method: "PATCH", path: "/apis/events.k8s.io/v1/namespaces/team-a/events/new-style",
                    contentType: "application/merge-patch+json", body: Array(body.utf8)))
        }
        let rewritten = await patch(#"{"reason":"Other"}"#)
        #expect(rewritten.code == 422)
        #expect(
            message(rewritten) == #"Event "new-style" is invalid: reason: Invalid value: "Other": field is immutable"#)
        let series = await patch(#"{"series":{"count":2,"lastObservedTime":"2026-11-27T02:52:40.000000Z"}}"#)
        #expect(series.code == 200)
        #expect(await patch(#"{"series":{"count":1,"lastObservedTime":"2026-11-27T02:52:41.000000Z"}}"#).code == 422)
    }

    @Test("one object: the same uid and resourceVersion both ways; lists, watches and deletes cross over")
    func oneObject() async throws {
        let store = try store()
        let (events, cancel) = store.watch(.eventsV1, namespace: "team-a", resourceVersion: store.revision)
        var iterator = events.makeAsyncIterator()
        let stored = try store.create(.events, object: request("13m-get-event.json"))
        let added = await iterator.next()
        #expect(added?.type == .added)
        #expect(added?.object["apiVersion"] == .string("events.k8s.io/v1"))
        #expect(added?.object["note"] == stored["message"])
        #expect(added?.object["metadata"] == stored["metadata"])
        let listed = try store.list(.eventsV1, namespace: "team-a").items
        #expect(listed.map { $0["regarding"] } == [stored["involvedObject"]])
        _ = try store.delete(.eventsV1, namespace: "team-a", name: name)
        #expect(await iterator.next()?.type == .deleted)
        #expect(throws: APIStatus.notFound("events", name)) { try store.get(.events, namespace: "team-a", name: name) }
        cancel()
    }
}
