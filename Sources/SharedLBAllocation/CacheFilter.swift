public import SharedLBCore

/// What the allocator keeps of the objects it watches, and which changes wake it up (as
/// client-go's transforms and controller-runtime's predicates). A cluster's Pods, slices and
/// Services are mostly none of SharedLB's business: they are stored lean (Pods as
/// ``PodSummary``) and wake nothing.
public enum CacheFilter {
    /// An EndpointSlice without its annotations (the EndpointSlice controller's
    /// `last-change-trigger-time` changes with every update).
    public static func lean(_ slice: EndpointSlice) -> EndpointSlice {
        var slice = slice
        slice.metadata.annotations = nil
        return slice
    }

    /// A Service without `kubectl.kubernetes.io/last-applied-configuration` (a copy of the
    /// whole manifest, which nothing in the allocator reads).
    public static func lean(_ service: KubeService) -> KubeService {
        guard service.metadata.annotations?[lastApplied] != nil else { return service }
        var service = service
        service.metadata.annotations?[lastApplied] = nil
        return service
    }

    static let lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

    /// A Service change concerns the allocator when either side is in the controller namespace
    /// (shared LBs, and names a new LB must not take), labelled managed, or carries a SharedLB
    /// annotation (results to clear).
    public static func concerns(_ old: KubeService?, _ new: KubeService?, controllerNamespace: String) -> Bool {
        func concerns(_ service: KubeService?) -> Bool {
            guard let service else { return false }
            if service.metadata.namespace == controllerNamespace { return true }
            if service.metadata.labels?[SharedLBNames.managedLabel] != nil { return true }
            return service.metadata.annotations?.keys.contains { $0.hasPrefix("sharedlb.io/") } ?? false
        }
        return concerns(old) || concerns(new)
    }

    /// A Pod change concerns the allocator when the Pod is in a namespace with members (nil:
    /// not known yet, every namespace) and what is kept of it (``PodSummary``) changed: a
    /// status update of its containers or conditions, a label edit, is nothing.
    public static func concerns(_ old: PodSummary?, _ new: PodSummary?, memberNamespaces: Set<String>?) -> Bool {
        guard old != new, let namespace = (new ?? old)?.namespace else { return false }
        return memberNamespaces?.contains(namespace) ?? true
    }

    /// A slice change concerns the allocator in the controller namespace (mirrored slices) and
    /// in namespaces with members (nil: not known yet, every namespace).
    public static func concerns(
        _ old: EndpointSlice?, _ new: EndpointSlice?, controllerNamespace: String, memberNamespaces: Set<String>?
    ) -> Bool {
        guard let namespace = (new ?? old)?.metadata.namespace else { return false }
        return namespace == controllerNamespace || (memberNamespaces?.contains(namespace) ?? true)
    }
}
