import ArgumentParser
import Foundation
import SharedLBAllocation
import SharedLBController
import SharedLBCore
import SharedLBKubernetes
import Yams

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Print every allocation and check SharedLB's invariants; exits 1 when one fails.",
        discussion: """
            Reads the ledger (ConfigMaps labelled sharedlb.io/role=ledger in --namespace) and the \
            live objects: shared LB Services, mirrored EndpointSlices, managed Services. Each \
            violation is printed as `CODE subject: message` on standard error, e.g. slot-conflict, \
            member-duplicated, shared-service-ports, stale-mirror, unplaced-member.

            A live cluster is often mid-reconcile: --settle 30s reports only violations that are \
            still there after that long. --ledger FILE audits ConfigMap YAML offline, e.g. the \
            output of `kubectl get configmap -n sharedlb-system -l sharedlb.io/role=ledger -o yaml`.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case table, json, yaml
    }

    @OptionGroup var cluster: KubeconfigOptions

    @Option(help: "Controller namespace.")
    var namespace = SharedLBNames.defaultNamespace

    @Option(name: [.short, .customLong("output")], help: "table, json or yaml.")
    var output: Format = .table

    @Option(help: "Report only violations that persist this long (e.g. 30s).")
    var settle = DurationArgument("0s")

    @Option(help: "Audit ledger ConfigMaps from a YAML file instead of a cluster.")
    var ledger: String?

    @Option(help: "The allocator's --provider (its default --mixed-protocol).")
    var provider: ProviderPreset.Provider = .generic

    @Option(help: "allow: shared LBs may mix protocols (as the allocator's --mixed-protocol; default: the provider's).")
    var mixedProtocol: MixedProtocol?

    var mixed: Bool { mixedProtocol.map { $0 == .allow } ?? ProviderPreset.preset(provider).mixedProtocol }

    @OptionGroup var sharing: SharingOptions

    func run() async throws {
        var auditor: Auditor
        var violations: [Violation]
        if let ledger {
            auditor = try Self.offline(path: ledger, mixedProtocol: mixed, shaping: sharing.shaping)
            violations = auditor.violations()
        } else {
            let (mixed, shaping) = (mixed, sharing.shaping)
            (auditor, violations) = try await cluster.withClient { client in
                var auditor = try await Auditor.load(
                    client: client, namespace: namespace, mixedProtocol: mixed, shaping: shaping)
                var violations = auditor.violations()
                // Keep only what is still wrong on every read until --settle has passed.
                let deadline = ContinuousClock.now + settle.duration
                while !violations.isEmpty && ContinuousClock.now < deadline {
                    try await Task.sleep(for: min(.seconds(2), deadline - ContinuousClock.now))
                    auditor = try await Auditor.load(
                        client: client, namespace: namespace, mixedProtocol: mixed, shaping: shaping)
                    let now = Set(auditor.violations())
                    violations = violations.filter(now.contains)
                }
                return (auditor, violations)
            }
        }
        print(try render(auditor: auditor, violations: violations), terminator: "")
        for violation in violations {
            FileHandle.standardError.write(Data("\(violation)\n".utf8))
        }
        if !violations.isEmpty { throw ExitCode(1) }
    }

    struct Row {
        var pool, sharedLB, endpoint, port, member, target: String
    }

    func rows(_ auditor: Auditor) -> [Row] {
        var ingress: [String: [String]] = [:]
        for service in auditor.sharedServices ?? [] {
            ingress[service.metadata.name ?? ""] = (service.status?.loadBalancer?.ingress ?? []).compactMap {
                guard let address = $0.ip ?? $0.hostname else { return nil }
                return address.contains(":") ? "[\(address)]" : address
            }
        }
        var rows: [Row] = []
        for shard in auditor.shards.sorted(by: { $0.sharedService < $1.sharedService }) {
            for allocation in shard.allocations {
                let endpoints = (ingress[shard.sharedService] ?? []).map { "\($0):\(allocation.slot.port)" }
                rows.append(
                    Row(
                        pool: shard.key.poolName, sharedLB: "\(namespace)/\(shard.sharedService)",
                        endpoint: endpoints.isEmpty ? "<pending>" : endpoints.joined(separator: ","),
                        port: allocation.slot.description,
                        member:
                            "\(allocation.namespace)/\(allocation.name)\(allocation.portName.isEmpty ? "" : ":\(allocation.portName)")",
                        target: String(allocation.target)))
            }
        }
        return rows
    }

    func render(auditor: Auditor, violations: [Violation]) throws -> String {
        let rows = rows(auditor)
        switch output {
        case .table:
            let header = ["POOL", "SHARED LB", "ENDPOINT", "PORT", "MEMBER", "TARGET"]
            return TextTable.render(
                [header] + rows.map { [$0.pool, $0.sharedLB, $0.endpoint, $0.port, $0.member, $0.target] })
        case .json, .yaml:
            let allocations: [[String: String]] = rows.map {
                [
                    "pool": $0.pool, "sharedLB": $0.sharedLB, "endpoint": $0.endpoint, "port": $0.port,
                    "member": $0.member, "target": $0.target,
                ]
            }
            let report: [String: Any] = [
                "allocations": allocations,
                "violations": violations.map { ["code": $0.code, "subject": $0.subject, "message": $0.message] },
            ]
            if output == .yaml { return try Yams.dump(object: report, sortKeys: true) }
            let data = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
            return String(decoding: data, as: UTF8.self) + "\n"
        }
    }

    /// Ledger ConfigMaps from YAML: a List (as `kubectl get -o yaml` prints), ConfigMaps, or several documents.
    static func offline(path: String, mixedProtocol: Bool, shaping: ShapingAnnotations) throws -> Auditor {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
        var objects: [[String: Any]] = []
        for document in try Yams.load_all(yaml: text) {
            guard let object = document as? [String: Any] else { continue }
            if let items = object["items"] as? [[String: Any]] { objects += items } else { objects.append(object) }
        }
        var shards: [LedgerShard] = []
        var unreadable: [String: String] = [:]
        for object in objects where (object["kind"] as? String ?? "ConfigMap") == "ConfigMap" {
            let name = (object["metadata"] as? [String: Any])?["name"] as? String ?? "<unnamed>"
            let data = (object["data"] as? [String: Any] ?? [:]).compactMapValues { $0 as? String }
            do {
                shards.append(try LedgerShard(configMapName: name, data: data))
            } catch {
                unreadable[name] = error.message
            }
        }
        return Auditor(shards: shards, unreadable: unreadable, mixedProtocol: mixedProtocol, shaping: shaping)
    }
}

struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Turn every managed Service back into the LoadBalancer Service it asked for (uninstall).",
        discussion: """
            Uninstall in this order: delete the MutatingWebhookConfiguration, stop the allocator, \
            run `sharedlb restore`, then delete the rest. Each Service labelled \
            sharedlb.io/managed=true gets `type: LoadBalancer` and the LB fields recorded in \
            sharedlb.io/requested back (a merge patch: nothing else changes), loses SharedLB's \
            label and annotations, and is annotated sharedlb.io/dedicated=true so a webhook that \
            is still installed leaves it alone. Each one then gets a load balancer of its own. \
            A labelled Service that is no longer a ClusterIP Service is left as it is.
            """
    )

    @OptionGroup var cluster: KubeconfigOptions

    @Flag(help: "Print what would change, change nothing.")
    var dryRun = false

    func run() async throws {
        let outcomes = try await cluster.withClient { client in
            try await Restore.all(client: client, dryRun: dryRun)
        }
        for outcome in outcomes {
            if let error = outcome.error {
                FileHandle.standardError.write(Data("\(outcome.id): \(error)\n".utf8))
            } else if dryRun {
                print("\(outcome.id): would apply \(outcome.patch)")
            } else {
                print("\(outcome.id): restored to type LoadBalancer")
            }
        }
        if outcomes.contains(where: { $0.error != nil }) { throw ExitCode(1) }
    }
}
