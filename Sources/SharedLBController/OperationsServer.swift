import Hummingbird
public import Logging
import NIOCore
public import ServiceLifecycle

/// Plain HTTP for operators and probes: `GET /metrics` (Prometheus text), `GET /healthz`
/// (alive), `GET /readyz` (200 once `ready()` says so, else 503).
public struct OperationsServer: Service {
    let host: String
    let port: Int
    let exposition: @Sendable () -> [UInt8]
    let ready: @Sendable () -> Bool
    let logger: Logger

    public init(
        host: String, port: Int, logger: Logger, exposition: @escaping @Sendable () -> [UInt8],
        ready: @escaping @Sendable () -> Bool
    ) {
        self.host = host
        self.port = port
        self.exposition = exposition
        self.ready = ready
        self.logger = logger
    }

    public func run() async throws {
        let router = Router()
        let exposition = self.exposition
        let ready = self.ready
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/livez") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let isReady = ready()
            return Response(
                status: isReady ? .ok : .serviceUnavailable,
                body: ResponseBody(byteBuffer: ByteBuffer(string: isReady ? "ok\n" : "not ready\n")))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: exposition())))
        }
        let application = Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: nil),
            logger: logger)
        // No signal handling of its own: the process's ServiceGroup shuts it down in turn (with
        // the default signals it would stop on SIGTERM before the controller, failing the group).
        try await application.runService(gracefulShutdownSignals: [])
    }
}
