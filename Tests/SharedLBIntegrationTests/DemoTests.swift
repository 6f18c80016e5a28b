import Logging
import SharedLBCore
import SharedLBDemo
import Synchronization
import Testing

@Suite("sharedlb-demo")
struct DemoTests {
    @Test("the demo places every example Service, prints where each one is reachable, and audits clean")
    func demo() async throws {
        var logger = Logger(label: "test.demo")
        logger.logLevel = .error
        let printed = Mutex("")
        try await Demo(keep: false, kubeconfigPath: "/nonexistent", logger: logger).run { text in
            printed.withLock { $0 += text }
        }
        let report = printed.withLock { $0 }
        #expect(report.contains("team-a/web"))
        #expect(report.contains("203.0.113.10:80/TCP,203.0.113.10:443/TCP"))
        #expect(report.contains("6379/TCP team-b/redis/redis"))
        #expect(report.contains("6 LoadBalancer Services now share 4 cloud load balancers"))
        #expect(report.contains("53/UDP team-b/dns/dns"))
        #expect(report.contains("audit: every invariant holds"))
        #expect(try Demo.exampleServices().count == 6)
    }
}
