public import Logging
import SharedLBCore
public import SharedLBKubernetes

/// What a cloud controller does for the demo and the tests: an address from 203.0.113.0/24
/// (TEST-NET-3) in `status.loadBalancer.ingress` of every shared LB, through the status
/// subresource, as soon as it appears, and an `EnsuredLoadBalancer` Event on it.
public struct StandInCloud: Sendable {
    let client: KubernetesClient
    let firstHost: Int
    let logger: Logger

    public init(client: KubernetesClient, firstHost: Int = 1, logger: Logger) {
        self.client = client
        self.firstHost = firstHost
        self.logger = logger
    }

    /// Runs until cancelled.
    public func run() async {
        let informer = Informer(
            client: client, type: KubeService.self, namespace: SharedLBNames.defaultNamespace,
            labelSelector: "\(SharedLBNames.roleLabel)=\(SharedLBNames.sharedLBRole)", logger: logger)
        let recorder = EventRecorder(client: client, controller: "service-controller", instance: "stand-in-cloud")
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await informer.run() }
            var given: [String: String] = [:]
            var ensured: Set<String> = []
            for await _ in informer.updates {
                // In name order, so the addresses do not depend on dictionary order.
                for service in informer.snapshot().values.sorted(by: {
                    ($0.metadata.name ?? "") < ($1.metadata.name ?? "")
                })
                where service.status?.loadBalancer?.ingress?.isEmpty ?? true
                    && service.metadata.deletionTimestamp == nil
                {
                    let name = service.metadata.name ?? ""
                    let address = given[name] ?? "203.0.113.\(given.count + firstHost)"
                    given[name] = address
                    // As the cloud provider's service controller reports a sync that succeeded
                    // (before the address, so whoever sees the address can see the Event too;
                    // once: the cache may show the Service without its address a while longer).
                    if ensured.insert(name).inserted {
                        _ = try? await recorder.record(
                            regarding: ObjectReference(
                                apiVersion: "v1", kind: "Service", namespace: service.metadata.namespace, name: name,
                                uid: service.metadata.uid),
                            type: .normal, reason: "EnsuredLoadBalancer", action: "EnsureLoadBalancer",
                            note: "Ensured load balancer")
                    }
                    var patched = service
                    patched.status = KubeService.Status(loadBalancer: .init(ingress: [.init(ip: address)]))
                    _ = try? await client.update(patched, subresource: "status")
                }
            }
            group.cancelAll()
        }
    }
}
