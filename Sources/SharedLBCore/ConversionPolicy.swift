/// Which LoadBalancer Services the webhook converts beyond the defaults (DESIGN.md, "Invariants").
///
/// By default SharedLB converts class-less LoadBalancer Services with
/// `externalTrafficPolicy: Cluster` that no controller owns. Each field widens that.
public struct ConversionPolicy: Sendable, Equatable {
    /// `loadBalancerClass` values that are converted anyway (a class normally means
    /// another load-balancer implementation owns the Service).
    public var convertClasses: Set<String>
    /// Convert `externalTrafficPolicy: Local` Services (they can only share with
    /// members that select the same pods, because kube-proxy health-checks per Service).
    public var convertLocal: Bool
    /// Convert Services with a controlling ownerReference (operators and gateways
    /// that reconcile their own Service would fight the conversion).
    public var convertOwned: Bool

    public init(convertClasses: Set<String> = [], convertLocal: Bool = false, convertOwned: Bool = false) {
        self.convertClasses = convertClasses
        self.convertLocal = convertLocal
        self.convertOwned = convertOwned
    }
}
