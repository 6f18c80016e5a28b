import SharedLBCore

/// core/v1 and events.k8s.io/v1 Events are one resource in kube-apiserver: stored once (as
/// core/v1 here) and converted on the way in and out, so an Event a controller records through
/// either API is seen through both, with one uid and resourceVersion. Field names and which
/// fields Go writes when empty follow `k8s.io/api` and `pkg/apis/events/v1/conversion.go`;
/// fixtures `rest/13m` and `rest/13n` are one Event read both ways.
enum EventConversion {
    /// `object` as `kind` shows it, from its stored form.
    static func fromStorage(_ object: JSONValue, to kind: ResourceKind) -> JSONValue {
        guard kind == .eventsV1 else { return object }
        return eventsV1(fromCore: object)
    }

    /// `object`, written through `kind`, in its stored form.
    static func toStorage(_ object: JSONValue, from kind: ResourceKind) -> JSONValue {
        guard kind == .eventsV1 else { return object }
        return core(fromEventsV1: object)
    }

    static func eventsV1(fromCore core: JSONValue) -> JSONValue {
        var out = JSONObject()
        out["kind"] = .string("Event")
        out["apiVersion"] = .string(ResourceKind.eventsV1.apiVersion)
        out["metadata"] = core["metadata"] ?? .object(JSONObject())
        out["eventTime"] = core["eventTime"] ?? .null
        copy(core["series"], to: &out, "series")
        copy(core["reportingComponent"], to: &out, "reportingController")
        copy(core["reportingInstance"], to: &out, "reportingInstance")
        copy(core["action"], to: &out, "action")
        copy(core["reason"], to: &out, "reason")
        out["regarding"] = core["involvedObject"] ?? .object(JSONObject())
        copy(core["related"], to: &out, "related")
        copy(core["message"], to: &out, "note")
        copy(core["type"], to: &out, "type")
        out["deprecatedSource"] = core["source"] ?? .object(JSONObject())
        out["deprecatedFirstTimestamp"] = core["firstTimestamp"] ?? .null
        out["deprecatedLastTimestamp"] = core["lastTimestamp"] ?? .null
        copy(core["count"], to: &out, "deprecatedCount")
        return .object(out)
    }

    static func core(fromEventsV1 event: JSONValue) -> JSONValue {
        var out = JSONObject()
        out["kind"] = .string("Event")
        out["apiVersion"] = .string(ResourceKind.events.apiVersion)
        out["metadata"] = event["metadata"] ?? .object(JSONObject())
        out["involvedObject"] = event["regarding"] ?? .object(JSONObject())
        copy(event["reason"], to: &out, "reason")
        copy(event["note"], to: &out, "message")
        out["source"] = event["deprecatedSource"] ?? .object(JSONObject())
        out["firstTimestamp"] = event["deprecatedFirstTimestamp"] ?? .null
        out["lastTimestamp"] = event["deprecatedLastTimestamp"] ?? .null
        copy(event["deprecatedCount"], to: &out, "count")
        copy(event["type"], to: &out, "type")
        out["eventTime"] = event["eventTime"] ?? .null
        copy(event["series"], to: &out, "series")
        copy(event["action"], to: &out, "action")
        copy(event["related"], to: &out, "related")
        out["reportingComponent"] = event["reportingController"] ?? .string("")
        out["reportingInstance"] = event["reportingInstance"] ?? .string("")
        return .object(out)
    }

    /// Go's `omitempty` on a scalar or pointer: null, "" and 0 are left out.
    private static func copy(_ value: JSONValue?, to object: inout JSONObject, _ name: String) {
        guard let value else { return }
        switch value {
        case .null: return
        case .string(let text) where text.isEmpty: return
        case .number(let number) where Double(number) == 0: return
        default: object[name] = value
        }
    }
}
