/// Per-object retry delays, as controller-runtime's per-item rate limiter: an object that
/// cannot be written (an admission policy or a quota in its namespace, a 422) waits on its
/// own schedule, and every other object is written at full speed meanwhile.
struct ObjectBackoff: Sendable {
    struct Entry: Sendable {
        var failures: Int
        var retryAt: ContinuousClock.Instant
    }

    static let initialDelay = Duration.milliseconds(500)
    static let maximumDelay = Duration.seconds(60)

    private(set) var entries: [String: Entry] = [:]

    /// True while `object` waits out its delay: a pass leaves it as it is.
    func isWaiting(_ object: String, now: ContinuousClock.Instant) -> Bool {
        entries[object].map { now < $0.retryAt } ?? false
    }

    /// Records a failed write of `object`; returns how long it now waits (doubling up to the maximum).
    mutating func failed(_ object: String, now: ContinuousClock.Instant) -> Duration {
        let failures = (entries[object]?.failures ?? 0) + 1
        let delay = min(Self.maximumDelay, Self.initialDelay * (1 << min(failures - 1, 16)))
        entries[object] = Entry(failures: failures, retryAt: now + delay)
        return delay
    }

    mutating func succeeded(_ object: String) {
        entries[object] = nil
    }

    /// When the next waiting object is due (a pass should run then).
    var nextRetry: ContinuousClock.Instant? { entries.values.map(\.retryAt).min() }

    /// After a pass begun at `started`: objects that were due and not written again (no
    /// longer needed a write, or gone) are forgotten.
    mutating func endPass(started: ContinuousClock.Instant) {
        entries = entries.filter { $0.value.retryAt > started }
    }
}
