/// Why the webhook let a LoadBalancer Service through unconverted.
public enum SkipReason: String, Sendable, CaseIterable {
    case dedicated
    case existingLoadBalancer = "existing_load_balancer"
    case loadBalancerClass = "load_balancer_class"
    case localTrafficPolicy = "local_traffic_policy"
    case controllerOwned = "controller_owned"
    /// kube-apiserver would refuse it as a LoadBalancer (``LoadBalancerValidation``): it is let
    /// through so that the API server answers with its own rejection, as without SharedLB.
    case invalid = "invalid_load_balancer"
}

/// What the webhook decided for one Service.
public enum ServiceDecision: Sendable, Equatable {
    /// Not a LoadBalancer (or already converted): nothing to do.
    case unchanged
    /// Converted to a managed ClusterIP Service.
    case converted
    /// A LoadBalancer left alone; the first reason is the one counted in metrics.
    case skipped([SkipReason])
    /// The object has a shape the webhook does not understand; it is let through untouched.
    case malformed(String)
}

/// The webhook's answer for one Service: the decision, its patch and its warnings.
public struct ServiceConversion: Sendable, Equatable {
    public var decision: ServiceDecision
    public var patch: JSONPatch
    public var warnings: [String]
}

/// The fields that only a LoadBalancer (or NodePort) Service may carry, in the order
/// the patch removes them. kube-apiserver rejects a ClusterIP Service holding any of
/// them except `loadBalancerIP`, which is meaningless there (DESIGN.md, "Facts").
public let loadBalancerOnlySpecFields = [
    "externalTrafficPolicy",
    "healthCheckNodePort",
    "allocateLoadBalancerNodePorts",
    "loadBalancerClass",
    "loadBalancerSourceRanges",
    "loadBalancerIP",
]

/// Annotations kube-apiserver refuses on a ClusterIP Service (measured on v1.24 and v1.34):
/// the conversion removes them and records them under `annotations` in `sharedlb.io/requested`.
public let loadBalancerOnlyAnnotations = [LoadBalancerValidation.sourceRangesAnnotation]

/// The LoadBalancer → ClusterIP conversion, computed on the raw object as received.
///
/// ```swift
/// let result = ServiceConverter(policy: ConversionPolicy())
///     .convert(operation: "CREATE", object: object, oldObject: nil)
/// // result.decision == .converted, result.patch replaces /spec/type, removes LB-only fields…
/// ```
public struct ServiceConverter: Sendable {
    public var policy: ConversionPolicy

    public init(policy: ConversionPolicy) {
        self.policy = policy
    }

    /// Decides for a Service CREATE or UPDATE. `oldObject` is the stored object on UPDATE.
    public func convert(operation: String, object: JSONValue, oldObject: JSONValue?) -> ServiceConversion {
        let view: ServiceView
        do {
            view = try ServiceView(object)
        } catch {
            return ServiceConversion(
                decision: .malformed(error.message),
                patch: JSONPatch(),
                warnings: [Warning.truncate("sharedlb: left unchanged: \(error.message)")]
            )
        }
        guard view.type == "LoadBalancer" else {
            return ServiceConversion(decision: .unchanged, patch: JSONPatch(), warnings: [])
        }
        let reasons = skipReasons(view, operation: operation, oldObject: oldObject)
        if !reasons.isEmpty {
            return ServiceConversion(
                decision: .skipped(reasons),
                patch: view.releasePatch(),
                warnings: reasons.map { Warning.skipped($0, view: view) }
            )
        }
        return ServiceConversion(decision: .converted, patch: view.conversionPatch(), warnings: [Warning.converted])
    }

    private func skipReasons(_ view: ServiceView, operation: String, oldObject: JSONValue?) -> [SkipReason] {
        var reasons: [SkipReason] = []
        if view.annotation(SharedLBNames.dedicatedAnnotation) == "true" {
            reasons.append(.dedicated)
        }
        // Converting a live LoadBalancer makes the cloud delete it and release its address.
        if operation == "UPDATE", oldObject?["spec"]?["type"]?.stringValue == "LoadBalancer",
            view.annotation(SharedLBNames.migrateAnnotation) != "true"
        {
            reasons.append(.existingLoadBalancer)
        }
        if let loadBalancerClass = view.spec["loadBalancerClass"]?.stringValue,
            !policy.convertClasses.contains(loadBalancerClass)
        {
            reasons.append(.loadBalancerClass)
        }
        if view.spec["externalTrafficPolicy"]?.stringValue == "Local", !policy.convertLocal {
            reasons.append(.localTrafficPolicy)
        }
        if view.controllerOwner != nil, !policy.convertOwned {
            reasons.append(.controllerOwned)
        }
        if reasons.isEmpty, !view.loadBalancerProblems.isEmpty {
            reasons.append(.invalid)
        }
        return reasons
    }
}

/// The admission warnings (shown by kubectl; each kept under 120 characters).
enum Warning {
    static let limit = 119

    static let converted =
        "sharedlb: converted to ClusterIP to share a load balancer; its address appears in annotation sharedlb.io/endpoint"

    static func skipped(_ reason: SkipReason, view: ServiceView) -> String {
        switch reason {
        case .dedicated:
            return "sharedlb: kept as a dedicated LoadBalancer (annotation sharedlb.io/dedicated: \"true\")"
        case .existingLoadBalancer:
            return "sharedlb: existing LoadBalancer left alone; annotate sharedlb.io/migrate: \"true\" to share one"
        case .loadBalancerClass:
            let name = view.spec["loadBalancerClass"]?.stringValue ?? ""
            return truncate("sharedlb: left as LoadBalancer: loadBalancerClass \(name) is another implementation's")
        case .localTrafficPolicy:
            return "sharedlb: left as LoadBalancer: externalTrafficPolicy Local cannot share a load balancer"
        case .controllerOwned:
            let owner = view.controllerOwner ?? ""
            return truncate("sharedlb: left as LoadBalancer: its controller \(owner) manages it")
        case .invalid:
            return truncate("sharedlb: left as LoadBalancer: \(view.loadBalancerProblems.first ?? "")")
        }
    }

    static func truncate(_ message: String) -> String {
        guard message.utf8.count > limit else { return message }
        var result = ""
        for character in message {
            if result.utf8.count + character.utf8.count > limit - 3 { break }
            result.append(character)
        }
        return result + "..."
    }
}
