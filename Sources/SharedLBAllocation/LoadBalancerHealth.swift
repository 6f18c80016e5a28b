public import SharedLBCore

/// What the cloud says about shared LBs, from the Events it records on them (the service
/// controller's `SyncLoadBalancerFailed`, `EnsuringLoadBalancer`, `EnsuredLoadBalancer`...).
public enum LoadBalancerHealth {
    /// The shared LBs whose most recent Event is a failure (a `Warning` whose reason ends or
    /// begins with `Failed`: the service controller's `SyncLoadBalancerFailed`, the AWS Load
    /// Balancer Controller's `FailedDeployModel` and `FailedBuildModel`), with a message for
    /// their members. A later success clears it.
    ///
    /// - Parameter isFailure: which Warning reasons are failures (``ProviderPreset/isFailure(_:)``).
    public static func failures(
        events: [Event], sharedServices: Set<String>, isFailure: (String) -> Bool = isFailure
    ) -> [String: String] {
        var failures: [String: String] = [:]
        for (name, entry) in latest(events: events, sharedServices: sharedServices) {
            let reason = entry.event.reason ?? ""
            guard entry.event.type == "Warning", isFailure(reason) else { continue }
            failures[name] = "shared LB \(name): \(reason): \(entry.event.note ?? "")"
        }
        return failures
    }

    /// When each shared LB last succeeded: the time (``sortableTime(_:)``) of its latest
    /// `Normal` Event from someone other than SharedLB (the cloud's `EnsuredLoadBalancer`,
    /// `UpdatedLoadBalancer`, `SuccessfullyReconciled`, ...).
    public static func lastSuccess(events: [Event], sharedServices: Set<String>) -> [String: String] {
        let theirs = events.filter {
            $0.type == "Normal" && $0.reportingController != SharedLBNames.allocatorController
        }
        return latest(events: theirs, sharedServices: sharedServices).mapValues(\.time)
    }

    /// The latest Event on each shared LB, with its time.
    static func latest(events: [Event], sharedServices: Set<String>) -> [String: (time: String, event: Event)] {
        var latest: [String: (time: String, event: Event)] = [:]
        for event in events {
            guard let regarding = event.regarding, regarding.kind == "Service", let name = regarding.name,
                sharedServices.contains(name)
            else { continue }
            // The latest of every time an Event may carry: core/v1 Events read through
            // events.k8s.io have no eventTime, and a repeat only moves deprecatedLastTimestamp.
            let time = [
                event.series?.lastObservedTime, event.eventTime, event.deprecatedLastTimestamp,
                event.metadata.creationTimestamp,
            ].map(sortableTime).max()!
            if let previous = latest[name], previous.time > time { continue }
            latest[name] = (time, event)
        }
        return latest
    }

    /// A failure reason of a load-balancer implementation.
    public static func isFailure(_ reason: String) -> Bool {
        reason.hasSuffix("Failed") || reason.hasPrefix("Failed")
    }

    /// RFC 3339 times (seconds or microseconds) as strings that sort in time order.
    public static func sortableTime(_ text: String?) -> String {
        guard var text, text.hasSuffix("Z") else { return "" }
        text.removeLast()
        if let dot = text.firstIndex(of: ".") {
            let fraction = text[text.index(after: dot)...]
            return String(text[..<dot]) + "." + fraction + String(repeating: "0", count: max(0, 9 - fraction.count))
        }
        return text + ".000000000"
    }
}
