public import SharedLBCore

/// One line of a watch stream: `{"type":"ADDED","object":{…}}`.
public struct WatchEvent: Sendable, Equatable {
    public enum EventType: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        case bookmark = "BOOKMARK"
        case error = "ERROR"
    }

    public var type: EventType
    public var object: JSONValue

    public init(type: EventType, object: JSONValue) {
        self.type = type
        self.object = object
    }

    /// The event as one NDJSON line (with its `\n`), as kube-apiserver streams it.
    public var line: [UInt8] {
        var output: [UInt8] = []
        output.append(contentsOf: #"{"type":""#.utf8)
        output.append(contentsOf: type.rawValue.utf8)
        output.append(contentsOf: #"","object":"#.utf8)
        JSONWriter.write(object, into: &output)
        output.append(contentsOf: "}\n".utf8)
        return output
    }
}
