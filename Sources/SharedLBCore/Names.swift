/// The names SharedLB shares with operators, tests and the allocator (DESIGN.md, "Names").
///
/// They are a contract: changing one breaks installed clusters.
public enum SharedLBNames {
    /// Label on every Service the webhook converted.
    public static let managedLabel = "sharedlb.io/managed"
    /// Annotation with what the user asked for: ports and every LB-only field the patch removed.
    public static let requestedAnnotation = "sharedlb.io/requested"
    /// Opt-out: keep a dedicated load balancer.
    public static let dedicatedAnnotation = "sharedlb.io/dedicated"
    /// Opt-in for converting an existing, unmanaged LoadBalancer Service on UPDATE.
    public static let migrateAnnotation = "sharedlb.io/migrate"
    /// Optional sharing key.
    public static let poolAnnotation = "sharedlb.io/pool"
    /// Optional port policy per Service (`preserve` or `remap`).
    public static let portPolicyAnnotation = "sharedlb.io/port-policy"
    /// Result annotations the allocator writes on members.
    public static let endpointAnnotation = "sharedlb.io/endpoint"
    public static let sharedServiceAnnotation = "sharedlb.io/shared-service"
    public static let errorAnnotation = "sharedlb.io/error"
    /// Label on SharedLB's own objects (`shared-lb`, `ledger`).
    public static let roleLabel = "sharedlb.io/role"
    public static let sharedLBRole = "shared-lb"
    public static let ledgerRole = "ledger"
    /// Default controller namespace.
    public static let defaultNamespace = "sharedlb-system"
    /// The allocator's `reportingController` in Events (and its mirrored slices' `managed-by`).
    public static let allocatorController = "allocator.sharedlb.io"
    /// Prefix of every metric SharedLB exports.
    public static let metricsPrefix = "sharedlb"

    /// Annotations SharedLB writes on a member; all are removed when a Service stops being managed.
    public static let memberAnnotations = [
        requestedAnnotation, endpointAnnotation, sharedServiceAnnotation, errorAnnotation,
    ]
}
