import ArgumentParser

@main
struct SharedLBCommand: AsyncParsableCommand {
    /// Reached as `kubectl-sharedlb` (a link on PATH), kubectl runs it as a plugin:
    /// `kubectl sharedlb audit`. Plugins get kubectl's environment (`KUBECONFIG`), not its
    /// flags, and the commands read `$KUBECONFIG` as kubectl does.
    static let pluginName = "kubectl-sharedlb"
    static let name =
        CommandLine.arguments.first.map { $0.split(separator: "/").last == Substring(pluginName) } == true
        ? "kubectl sharedlb" : "sharedlb"

    static let configuration = CommandConfiguration(
        commandName: name,
        abstract: "Let many Kubernetes LoadBalancer Services share one cloud load balancer.",
        discussion: """
            The admission webhook rewrites each new `type: LoadBalancer` Service into a \
            ClusterIP Service labelled sharedlb.io/managed=true and records what was asked \
            for in the sharedlb.io/requested annotation; the allocator places its ports on a \
            shared LoadBalancer Service, mirrors its endpoints, keeps every allocation in a \
            ConfigMap ledger and annotates the Service with sharedlb.io/endpoint. Users \
            change nothing in their manifests.

            See it work, no cluster needed:
              swift run sharedlb-demo      (from a clone of the repository)

            Out of cluster against a real one, for development:
              sharedlb certs --ip 192.0.2.10              # CA + serving certificate
              sharedlb webhook-config --ca certs/ca.crt \\
                --url https://192.0.2.10:8443/mutate | kubectl apply -f -
              sharedlb run --kubeconfig ~/.kube/config
            """,
        version: "0.1.0",
        subcommands: [
            WebhookCommand.self, AllocatorCommand.self, RunCommand.self, AuditCommand.self,
            RestoreCommand.self,
            CertsCommand.self, WebhookConfigCommand.self,
        ]
    )
}
