import SharedLBAllocation

/// Per-object retry delays, as controller-runtime's per-item rate limiter: an object that
/// cannot be written (an admission policy or a quota in its namespace, a 422) waits on its
/// own schedule, and every other object is written at full speed meanwhile. Each entry holds
/// the work that retries it, queued again when its delay ends (``takeDue(now:)``).
struct ObjectBackoff: Sendable {
    struct Entry: Sendable {
        var failures: Int
        /// nil once its retry is queued.
        var retryAt: ContinuousClock.Instant?
        var retry: Work
    }

    static let initialDelay = Duration.milliseconds(500)
    static let maximumDelay = Duration.seconds(60)

    private(set) var entries: [String: Entry] = [:]

    /// True while `object` waits out its delay: it is left as it is.
    func isWaiting(_ object: String, now: ContinuousClock.Instant) -> Bool {
        entries[object]?.retryAt.map { now < $0 } ?? false
    }

    /// Records a failed write of `object`, retried by `retry`; returns how long it now waits
    /// (doubling up to the maximum).
    mutating func failed(_ object: String, retry: Work, now: ContinuousClock.Instant) -> Duration {
        let failures = (entries[object]?.failures ?? 0) + 1
        let delay = min(Self.maximumDelay, Self.initialDelay * (1 << min(failures - 1, 16)))
        entries[object] = Entry(failures: failures, retryAt: now + delay, retry: retry)
        return delay
    }

    mutating func succeeded(_ object: String) {
        entries[object] = nil
    }

    /// The retries that are due, marked as queued (their failure count stays, for the next delay).
    mutating func takeDue(now: ContinuousClock.Instant) -> Work {
        var work = Work()
        for (object, entry) in entries {
            guard let retryAt = entry.retryAt, retryAt <= now else { continue }
            work.formUnion(entry.retry)
            entries[object]?.retryAt = nil
        }
        return work
    }

    /// After a full pass: queued retries that the pass did not write again (nothing to write
    /// any more, or the object is gone) are forgotten.
    mutating func endFullPass() {
        entries = entries.filter { $0.value.retryAt != nil }
    }
}
