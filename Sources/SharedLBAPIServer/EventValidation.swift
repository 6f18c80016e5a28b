import SharedLBCore

/// kube-apiserver's Event validation (`pkg/apis/core/validation/events.go`), on the stored
/// (core/v1) form: the legacy rules for every write, and the strict ones for writes through
/// events.k8s.io/v1 (`eventTime` required, the core-only fields unset, a valid series).
/// Field paths are the internal type's (`reportingController`, `message`), as the real
/// messages name them. Not checked here: `reportingController` as a qualified name (beyond empty) and the
/// namespace as a DNS label (both validated elsewhere for SharedLB's own writes); an
/// immutable field's value is rendered as JSON where Go prints its `%#v`.
enum EventValidation {
    static func validate(_ event: JSONValue, old: JSONValue?, through kind: ResourceKind) -> [APIStatus.Cause] {
        var causes = legacy(event)
        guard kind == .eventsV1 else { return causes }
        if let old {
            if event["series"] != old["series"] { causes += series(event) }
            for (field, json) in immutable where event[json] != old[json] {
                causes.append(.invalid(field, value: event[json] ?? .null, "field is immutable"))
            }
            return causes
        }
        causes += series(event)
        if text(event, "eventTime").isEmpty { causes.append(.required("eventTime")) }
        let type = text(event, "type")
        if type != "Normal" && type != "Warning" {
            causes.append(.invalid("type", value: .string(""), "has invalid value: \(type)"))
        }
        for field in ["firstTimestamp", "lastTimestamp"] where !text(event, field).isEmpty {
            causes.append(.invalid(field, value: .string(""), "needs to be unset"))
        }
        if let count = event["count"].flatMap(ServiceStrategy.integer), count != 0 {
            causes.append(.invalid("count", value: .string(""), "needs to be unset"))
        }
        if !text(event["source"], "component").isEmpty || !text(event["source"], "host").isEmpty {
            causes.append(.invalid("source", value: .string(""), "needs to be unset"))
        }
        return causes
    }

    /// What an update through events.k8s.io/v1 may not change: internal name, core/v1 JSON name.
    private static let immutable = [
        ("involvedObject", "involvedObject"), ("reason", "reason"), ("message", "message"), ("source", "source"),
        ("firstTimestamp", "firstTimestamp"), ("lastTimestamp", "lastTimestamp"), ("count", "count"),
        ("type", "type"), ("eventTime", "eventTime"), ("action", "action"), ("related", "related"),
        ("reportingController", "reportingComponent"), ("reportingInstance", "reportingInstance"),
    ]

    private static func legacy(_ event: JSONValue) -> [APIStatus.Cause] {
        var causes: [APIStatus.Cause] = []
        let namespace = text(event["metadata"], "namespace")
        let involved = text(event["involvedObject"], "namespace")
        let mismatch = APIStatus.Cause.invalid(
            "involvedObject.namespace", value: .string(involved), "does not match event.namespace")
        if text(event, "eventTime").isEmpty {
            if involved.isEmpty ? !(namespace.isEmpty || namespace == "default") : namespace != involved {
                causes.append(mismatch)
            }
            return causes
        }
        if involved.isEmpty && namespace != "default" && namespace != "kube-system" { causes.append(mismatch) }
        for (field, json, limit) in [
            ("reportingController", "reportingComponent", nil), ("reportingInstance", "reportingInstance", 128),
            ("action", "action", 128), ("reason", "reason", 128),
        ] as [(String, String, Int?)] {
            let value = text(event, json)
            if value.isEmpty { causes.append(.required(field)) }
            if field == "reportingController", value.isEmpty {
                // ...and, as a qualified name, an empty one is invalid twice over.
                causes.append(.invalid(field, value: .string(""), "name part must be non-empty"))
                causes.append(
                    .invalid(
                        field, value: .string(""),
                        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
                    ))
            }
            // Go's len: bytes.
            if let limit, value.utf8.count > limit {
                causes.append(.invalid(field, value: .string(""), "can have at most \(limit) characters"))
            }
        }
        if text(event, "message").utf8.count > 1024 {
            causes.append(.invalid("message", value: .string(""), "can have at most 1024 characters"))
        }
        return causes
    }

    private static func series(_ event: JSONValue) -> [APIStatus.Cause] {
        guard let series = event["series"], series != .null else { return [] }
        var causes: [APIStatus.Cause] = []
        if (series["count"].flatMap(ServiceStrategy.integer) ?? 0) < 2 {
            causes.append(.invalid("series.count", value: .string(""), "should be at least 2"))
        }
        if text(series, "lastObservedTime").isEmpty { causes.append(.required("series.lastObservedTime")) }
        return causes
    }

    private static func text(_ object: JSONValue?, _ field: String) -> String {
        object?[field]?.stringValue ?? ""
    }
}
