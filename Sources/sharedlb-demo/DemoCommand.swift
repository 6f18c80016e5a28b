import ArgumentParser
import Foundation
import Logging
import SharedLBDemo
import SharedLBWebhook

/// `--log-level`: swift-log's levels by name.
enum LogLevel: String, ExpressibleByArgument, CaseIterable {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}

/// `sharedlb-demo`: its own executable, so the shipped `sharedlb` holds none of the in-repo
/// API server or the stand-in cloud.
@main
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharedlb-demo",
        abstract: "See SharedLB work end to end on this machine, no cluster needed.",
        discussion: """
            Starts, in this process, the in-repo Kubernetes API server (HTTPS, bearer token), \
            the webhook (registered with it over real TLS, failurePolicy Fail), the allocator \
            (leader-elected) and a stand-in cloud provider that gives each shared load balancer \
            an address. Then creates ordinary LoadBalancer Services in two namespaces (a port \
            conflict, a UDP service, a restricted one: --print-examples shows them), waits until \
            each is placed, prints each Service with its shared LB and external endpoint, the \
            shared LBs and the ledger, audits the result and exits 0.

            --keep keeps it running and writes a kubeconfig so kubectl can look around.
            """
    )

    @Flag(help: "Keep running after the report (Ctrl-C stops it) and write a kubeconfig for kubectl.")
    var keep = false

    @Option(help: "Where --keep writes the kubeconfig.")
    var kubeconfig = "sharedlb-demo.kubeconfig"

    @Flag(help: "Print the example Services (YAML) and exit.")
    var printExamples = false

    @Option(help: "Log level of the components (they are quiet by default).")
    var logLevel: LogLevel = .error

    func run() async throws {
        if printExamples {
            print(DemoExamples.services, terminator: "")
            return
        }
        let level = logLevel.level
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(wrapping: StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "sharedlb.demo")
        let demo = Demo(keep: keep, kubeconfigPath: kubeconfig, logger: logger)
        try await demo.run { text in
            FileHandle.standardOutput.write(Data(text.utf8))
        }
    }
}
