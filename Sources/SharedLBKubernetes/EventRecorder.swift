public import Foundation
public import SharedLBCore
import Synchronization

/// Writes events.k8s.io/v1 Events about objects, as `kubectl describe` shows them.
/// A repeat of the same (object, type, reason, note) within `seriesWindow` updates the
/// first event's `series` (count, lastObservedTime) instead of creating another object,
/// so a member that fails placement on every reconcile does not flood the namespace.
///
/// ```swift
/// let recorder = EventRecorder(client: client, controller: "sharedlb.io/allocator", instance: podName)
/// try await recorder.record(regarding: member, type: .warning, reason: "PlacementFailed", action: "Place", note: "no room")
/// ```
public final class EventRecorder: Sendable {
    public enum EventType: String, Sendable {
        case normal = "Normal"
        case warning = "Warning"
    }

    struct Seen {
        var name: String
        var namespace: String
        var count: Int
        var first: Date
    }

    public let client: KubernetesClient
    public let controller: String
    public let instance: String
    public let seriesWindow: Duration
    private let seen = Mutex<[String: Seen]>([:])

    public init(client: KubernetesClient, controller: String, instance: String, seriesWindow: Duration = .seconds(1800))
    {
        self.client = client
        self.controller = controller
        self.instance = instance
        self.seriesWindow = seriesWindow
    }

    /// Records one occurrence; returns the Event as stored.
    @discardableResult
    public func record(
        regarding: ObjectReference, type: EventType, reason: String, action: String, note: String, now: Date = Date()
    ) async throws(KubernetesError) -> Event {
        let namespace = regarding.namespace ?? "default"
        let key = [regarding.uid ?? "", regarding.namespace ?? "", regarding.name ?? "", type.rawValue, reason, note]
            .joined(separator: "\u{0}")
        let window = TimeInterval(seriesWindow.components.seconds)
        let previous = seen.withLock { seen -> Seen? in
            guard let entry = seen[key], now.timeIntervalSince(entry.first) < window else { return nil }
            seen[key]?.count += 1
            return seen[key]
        }
        if let previous {
            do {
                let series = JSONObject([
                    ("count", .number(String(previous.count))), ("lastObservedTime", .string(Self.microTime(now))),
                ])
                return try await client.patch(
                    Event.self, namespace: previous.namespace, name: previous.name,
                    patch: .merge(.object(JSONObject([("series", .object(series))]))))
            } catch  where error.kind == .notFound {
                // The event expired on the server: start a new one below.
            }
        }
        let name = "\(regarding.name ?? "object").\(String(UInt64(now.timeIntervalSince1970 * 1_000_000), radix: 16))"
        let event = Event(
            metadata: ObjectMeta(name: name, namespace: namespace), eventTime: Self.microTime(now),
            reportingController: controller, reportingInstance: instance, action: action, reason: reason,
            regarding: regarding, note: String(note.prefix(1024)), type: type.rawValue)
        let created = try await client.create(event)
        seen.withLock { seen in
            // Entries past the window can no longer become a series: drop them, so memory
            // stays bounded by the events of one window, not by every event ever recorded.
            seen = seen.filter { now.timeIntervalSince($0.value.first) < window }
            seen[key] = Seen(name: name, namespace: namespace, count: 1, first: now)
        }
        return created
    }

    /// MicroTime: RFC 3339 with exactly six fractional digits, UTC (fixture `rest/13h`).
    public static func microTime(_ date: Date) -> String {
        let microseconds = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let seconds = Date(timeIntervalSince1970: TimeInterval(microseconds / 1_000_000))
        let whole = seconds.formatted(.iso8601).dropLast()  // without the "Z"
        let fraction = String(microseconds % 1_000_000)
        return "\(whole).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)Z"
    }
}
