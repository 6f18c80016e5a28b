import SharedLBAllocation
import SharedLBCore
import Synchronization

/// The allocator's work queue, as client-go's: keys added while the worker is busy coalesce
/// into one ``Work`` (a key is never queued twice), the worker takes all of it at once, and
/// keys added during a round are the next round's. It also holds what the informers' event
/// handlers read to route a change: members' uids by name, and the versions this allocator
/// wrote itself (their watch events are echoes and make no work).
final class WorkQueue: Sendable {
    struct State {
        var queued = Work()
        /// Member uids by `namespace/name`, as of the last placement.
        var uids: [String: String] = [:]
        /// `Kind namespace/name` → the resourceVersion this allocator last wrote.
        var written: [String: String] = [:]
        /// Pods (`namespace/name`) that members' slices point at → those members' uids, and
        /// the other way round.
        var membersByPod: [String: Set<String>] = [:]
        var podsByMember: [String: Set<String>] = [:]
    }

    private let state = Mutex(State())
    /// A signal for the worker after each ``add(_:)`` (coalescing).
    let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    private let metrics: AllocatorMetrics

    init(metrics: AllocatorMetrics) {
        self.metrics = metrics
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func add(_ work: Work) {
        guard !work.isEmpty else { return }
        metrics.count(queued: work)
        state.withLock { $0.queued.formUnion(work) }
        wake.yield()
    }

    /// Wakes the worker for what is queued.
    func poke() {
        wake.yield()
    }

    /// Everything queued so far; the queue is empty after.
    func take() -> Work {
        state.withLock { state in
            defer { state.queued = Work() }
            return state.queued
        }
    }

    var isEmpty: Bool { state.withLock { $0.queued.isEmpty } }

    func memberUID(_ key: String) -> String? {
        state.withLock { $0.uids[key] }
    }

    func setMembers(_ uids: [String: String]) {
        state.withLock { $0.uids = uids }
    }

    /// The members whose slices point at a Pod.
    func members(referencing pod: String) -> Set<String> {
        state.withLock { $0.membersByPod[pod] ?? [] }
    }

    /// Records the Pods a member's slices point at (set before those Pods are read, so a
    /// change after the read queues the member again).
    func setPods(_ pods: Set<String>, of member: String) {
        state.withLock { state in
            let old = state.podsByMember[member] ?? []
            guard old != pods else { return }
            for pod in old.subtracting(pods) {
                state.membersByPod[pod]?.remove(member)
                if state.membersByPod[pod]?.isEmpty == true { state.membersByPod[pod] = nil }
            }
            for pod in pods.subtracting(old) { state.membersByPod[pod, default: []].insert(member) }
            state.podsByMember[member] = pods.isEmpty ? nil : pods
        }
    }

    /// Records a write of this allocator (`version` nil: forget the object).
    func wrote<Object: KubernetesObject>(_ type: Object.Type, key: String, version: String?) {
        state.withLock { $0.written["\(Object.descriptor.kind) \(key)"] = version }
    }

    /// True (once) when a watch event shows the version this allocator wrote last.
    func isEcho<Object: KubernetesObject>(_ object: Object?) -> Bool {
        guard let object else { return false }
        let key = "\(Object.descriptor.kind) \(object.metadata.namespace ?? "")/\(object.metadata.name ?? "")"
        return state.withLock { state in
            guard let written = state.written.removeValue(forKey: key) else { return false }
            return written == object.metadata.resourceVersion
        }
    }
}
