import Foundation

/// One line of kube-apiserver's audit log (`audit.k8s.io/v1` Event, Metadata level): who did
/// what to which object, and the answer's code.
public struct AuditEvent: Decodable, Sendable, CustomStringConvertible {
    public struct User: Decodable, Sendable {
        public var username: String?
        public var groups: [String]?
    }

    public struct ObjectReference: Decodable, Sendable {
        public var resource: String?
        public var namespace: String?
        public var name: String?
        public var apiGroup: String?
        public var subresource: String?
    }

    public struct ResponseStatus: Decodable, Sendable {
        public var code: Int?
        public var message: String?
        public var reason: String?
    }

    public var auditID: String?
    public var stage: String?
    public var verb: String
    public var requestURI: String?
    public var user: User
    public var userAgent: String?
    public var objectRef: ObjectReference?
    public var responseStatus: ResponseStatus?
    /// RFC 3339 with microseconds.
    public var requestReceivedTimestamp: String?
    public var stageTimestamp: String?

    public var username: String { user.username ?? "" }
    public var code: Int { responseStatus?.code ?? 0 }
    /// create, update, patch, delete, deletecollection.
    public var isWrite: Bool { ["create", "update", "patch", "delete", "deletecollection"].contains(verb) }

    /// `verb resource[/subresource] namespace/name → code`
    public var description: String {
        let resource = [objectRef?.resource, objectRef?.subresource].compactMap { $0 }.joined(separator: "/")
        let name = [objectRef?.namespace, objectRef?.name].compactMap { $0 }.joined(separator: "/")
        return "\(username) \(verb) \(resource) \(name) → \(code)"
    }
}

extension AuditEvent {
    /// An audit log policy that records every request at Metadata level, once it completes.
    static let policy = """
        apiVersion: audit.k8s.io/v1
        kind: Policy
        omitStages: ["RequestReceived"]
        rules:
        - level: Metadata

        """

    /// An audit timestamp (RFC 3339, microseconds).
    static func parseTime(_ text: String) -> Date? {
        try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
    }

    /// Every complete line of the log file (a line being written is left out).
    static func read(_ file: URL) throws -> [AuditEvent] {
        let data = try Data(contentsOf: file)
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(AuditEvent.self, from: $0) }
    }
}
