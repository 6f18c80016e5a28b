public import SharedLBCore

/// What the allocator keeps of the objects it watches (client-go's transforms). A cluster's
/// Pods, slices and Services are mostly none of SharedLB's business: they are stored lean
/// (Pods as ``PodSummary``), and ``WorkRouting`` gives their changes no work.
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
}
