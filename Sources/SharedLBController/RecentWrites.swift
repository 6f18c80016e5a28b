import SharedLBCore

/// What this allocator wrote that its watches may not show yet. A snapshot that still shows
/// a version one of its writes replaced gets the last written object instead, so the next
/// pass does not redo (or fight) its own writes; once the watch shows any other version the
/// entry is dropped.
struct RecentWrites<Object: KubernetesObject> {
    /// Versions (`nil`: absent) the writes replaced, and the object as last written (`nil`: deleted).
    private var entries: [String: (replaced: Set<String?>, object: Object?)] = [:]

    /// `object` nil records a deletion.
    mutating func record(_ key: String, replaced: String?, object: Object?) {
        var stale: Set<String?> = [replaced]
        // A write on top of our own previous one: the watch may still show either version.
        if let previous = entries[key], previous.object?.metadata.resourceVersion == replaced {
            stale.formUnion(previous.replaced)
        }
        entries[key] = (stale, object)
    }

    mutating func overlay(_ snapshot: inout [String: Object]) {
        for (key, entry) in entries {
            if entry.replaced.contains(snapshot[key]?.metadata.resourceVersion) {
                snapshot[key] = entry.object
            } else {
                entries[key] = nil
            }
        }
    }
}

func key(_ metadata: ObjectMeta) -> String {
    "\(metadata.namespace ?? "")/\(metadata.name ?? "")"
}
