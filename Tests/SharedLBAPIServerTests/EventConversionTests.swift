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
