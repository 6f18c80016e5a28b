import ArgumentParser

@main
struct SharedLBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharedlb",
        abstract: "Let many Kubernetes LoadBalancer Services share one cloud load balancer.",
        discussion: """
            The admission webhook rewrites each new `type: LoadBalancer` Service into a ClusterIP \
            Service labelled sharedlb.io/managed=true and records what was asked for in the \
            sharedlb.io/requested annotation; users change nothing in their manifests.

            Quick start (no cluster needed for the webhook itself):
              sharedlb webhook --listen 127.0.0.1:8443   # dev certificate in certs/
              sharedlb certs --ip 192.0.2.10              # CA + serving certificate
              sharedlb webhook-config --ca certs/ca.crt \\
                --url https://192.0.2.10:8443/mutate | kubectl apply -f -
            """,
        version: "0.1.0",
        subcommands: [
            WebhookCommand.self, AllocatorCommand.self, RunCommand.self, AuditCommand.self, RestoreCommand.self,
            CertsCommand.self, WebhookConfigCommand.self,
        ]
    )
}
