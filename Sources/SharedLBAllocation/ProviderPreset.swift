/// What a load-balancer implementation allows, for `--provider` (docs/OPERATIONS.md, "Provider presets",
/// lists the source of every number). Each value can still be overridden by its own flag.
public struct ProviderPreset: Sendable, Equatable {
    public enum Provider: String, Sendable, CaseIterable {
        case generic
        /// The cloud provider's own NLB (`service.beta.kubernetes.io/aws-load-balancer-type: nlb`).
        case awsNLB = "aws-nlb"
        /// The AWS Load Balancer Controller's NLB.
        case awsLBC = "aws-lbc"
        case gke
        case aks
        case metallb
    }

    public var provider: Provider
    /// Listeners per shared LB.
    public var maximumPortsPerLB: Int
    /// Listeners × nodes per shared LB, where each listener registers every node as a target
    /// (AWS instance targets: 3,000 per NLB); nil where there is no such cap.
    public var maximumTargetsPerLB: Int?
    /// Whether one shared LB may carry TCP and UDP together.
    public var mixedProtocol: Bool
    /// Annotations a shared LB that mixes protocols needs.
    public var mixedProtocolAnnotations: [String: String]
    /// Warning reasons of the implementation's failures; nil: any that begins or ends with `Failed`.
    public var failureReasons: Set<String>?

    /// The Kubernetes service controller's (every cloud provider built on k8s.io/cloud-provider).
    static let serviceController: Set<String> = [
        "SyncLoadBalancerFailed", "UpdateLoadBalancerFailed", "DeleteLoadBalancerFailed", "UnAvailableLoadBalancer",
        "CreatingLoadBalancerFailed",
    ]

    public static func preset(_ provider: Provider) -> ProviderPreset {
        switch provider {
        case .generic:
            ProviderPreset(
                provider: provider, maximumPortsPerLB: 50, maximumTargetsPerLB: nil, mixedProtocol: false,
                mixedProtocolAnnotations: [:], failureReasons: nil)
        case .awsNLB:
            // 50 listeners and 3,000 targets per NLB; one target group per listener with every
            // node in it; the provider refuses a Service that mixes TCP and UDP.
            ProviderPreset(
                provider: provider, maximumPortsPerLB: 50, maximumTargetsPerLB: 3000, mixedProtocol: false,
                mixedProtocolAnnotations: [:], failureReasons: serviceController)
        case .awsLBC:
            // The same NLB quotas (instance targets); the same port on TCP and UDP needs a
            // TCP_UDP listener, which this annotation asks for (v2.13.0+); without it one of
            // the two is dropped with no Event.
            ProviderPreset(
                provider: provider, maximumPortsPerLB: 50, maximumTargetsPerLB: 3000, mixedProtocol: true,
                mixedProtocolAnnotations: [
                    "service.beta.kubernetes.io/aws-load-balancer-enable-tcp-udp-listener": "true"
                ],
                failureReasons: [
                    "FailedBuildModel", "FailedDeployModel", "FailedAddFinalizer", "FailedRemoveFinalizer",
                    "FailedUpdateStatus", "FailedCleanupStatus",
                ])
        case .gke:
            // No listener cap (more than 5 ports become a port range); mixed protocols only on
            // new 1.34.1-gke.2190000+ clusters with backend-service-based LBs, so off.
            ProviderPreset(
                provider: provider, maximumPortsPerLB: 50, maximumTargetsPerLB: nil, mixedProtocol: false,
                mixedProtocolAnnotations: [:],
                failureReasons: serviceController.union([
                    "SyncExternalLoadBalancerFailed", "SyncInstanceGroupsFailed", "DeleteInstanceGroupFailed",
                    "LoadBalancerMixedProtocolNotSupported",
                ]))
        case .aks:
            // 1,500 rules per Azure LB but 300 per node NIC over the whole cluster; one rule per
            // port and protocol, so TCP and UDP mix without an annotation.
            ProviderPreset(
                provider: provider, maximumPortsPerLB: 300, maximumTargetsPerLB: nil, mixedProtocol: true,
                mixedProtocolAnnotations: [:],
                failureReasons: serviceController.union([
                    "ListLoadBalancers", "CreateOrUpdatePublicIPAddress", "CreateOrUpdateInterface",
                    "DeletingFrontendIPConfiguration",
                ]))
        case .metallb:
            // Announces addresses only: kube-proxy serves every port and protocol.
            ProviderPreset(
                provider: provider, maximumPortsPerLB: PlacementConfiguration.portsPerLBLimit,
                maximumTargetsPerLB: nil, mixedProtocol: true, mixedProtocolAnnotations: [:],
                failureReasons: [
                    "AllocationFailed", "LoadBalancerFailed", "InternalError", "nolbIPsIPFamily",
                    "noclusterIPsIPFamily",
                ])
        }
    }
}
