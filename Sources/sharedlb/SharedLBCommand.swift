import ArgumentParser

@main
struct SharedLBCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sharedlb",
        abstract: "Let many Kubernetes LoadBalancer Services share one cloud load balancer.",
        discussion: """
            The admission webhook rewrites each new `type: LoadBalancer` Service into a ClusterIP
            Service labelled sharedlb.io/managed=true and records what was asked for in the
            sharedlb.io/requested annotation; users change nothing in their manifests.

            Quick start (development, no cluster needed for the webhook itself):
              sharedlb webhook                 # HTTPS on 0.0.0.0:8443, dev certificate in certs/
              sharedlb certs --ip 10.0.0.5     # CA + serving certificate for another address
              sharedlb webhook-config --url https://10.0.0.5:8443/mutate --ca certs/ca.crt | kubectl apply -f -
            """,
        version: "0.1.0",
        subcommands: [WebhookCommand.self, CertsCommand.self, WebhookConfigCommand.self]
    )
}
