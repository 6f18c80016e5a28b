import Synchronization

/// Every request the API test server answered, for write-amplification checks in tests.
public final class RequestLog: Sendable {
    public struct Entry: Sendable, Equatable {
        public var verb: String
        public var resource: String
        public var namespace: String
        public var name: String
        public var subresource: String
        public var code: Int

        public var isWrite: Bool { ["create", "update", "patch", "delete"].contains(verb) }
    }

    private let entries = Mutex<[Entry]>([])

    public init() {}

    func append(_ entry: Entry) {
        entries.withLock { $0.append(entry) }
    }

    public var all: [Entry] {
        entries.withLock { $0 }
    }

    /// Successful writes to `resource` (a plural such as `configmaps`).
    public func writes(to resource: String) -> Int {
        entries.withLock { $0.filter { $0.isWrite && $0.resource == resource && $0.code < 300 }.count }
    }

    public func removeAll() {
        entries.withLock { $0.removeAll() }
    }
}
