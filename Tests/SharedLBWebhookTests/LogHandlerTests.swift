import Logging
import Synchronization
import Testing

@testable import SharedLBWebhook

/// Collects what a log handler writes.
final class CapturedStream: TextOutputStream, Sendable {
    let lines = Mutex<[String]>([])

    func write(_ string: String) {
        lines.withLock { $0.append(string) }
    }
}

@Suite("DeferredMetadataLogHandler")
struct LogHandlerTests {
    /// A line without its leading timestamp (the two handlers write at different instants).
    func withoutTimestamp(_ line: String?) -> String? {
        line.map { String($0.drop { $0 != " " }) }
    }

    @Test("writes exactly what StreamLogHandler writes, logger and message metadata merged the same way")
    func sameOutput() throws {
        let deferredStream = CapturedStream()
        let streamStream = CapturedStream()
        var deferred = Logger(label: "sharedlb.test") { label in
            DeferredMetadataLogHandler(wrapping: StreamLogHandler(label: label, stream: deferredStream))
        }
        var stream = Logger(label: "sharedlb.test") { label in
            StreamLogHandler(label: label, stream: streamStream)
        }
        deferred[metadataKey: "hb.request.id"] = "42"
        deferred[metadataKey: "k8s.name"] = "db"
        stream[metadataKey: "hb.request.id"] = "42"
        stream[metadataKey: "k8s.name"] = "db"
        deferred.info("converted", metadata: ["k8s.name": "web", "admission.uid": "u"])
        stream.info("converted", metadata: ["k8s.name": "web", "admission.uid": "u"])
        deferred.info("plain")
        stream.info("plain")
        deferred.debug("below the level")
        stream.debug("below the level")
        let written = deferredStream.lines.withLock { $0 }
        let expected = streamStream.lines.withLock { $0 }
        #expect(written.count == 2)
        #expect(written.map(withoutTimestamp) == expected.map(withoutTimestamp))
        #expect(written.first?.contains("k8s.name=web") == true)
        #expect(deferred[metadataKey: "k8s.name"] == "db")
    }
}
