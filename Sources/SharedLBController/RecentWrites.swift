import SharedLBCore

/// What this allocator wrote that its watches may not show yet. A snapshot that still shows
/// the version a write replaced gets the written object instead, so the next pass does not
/// redo (or fight) its own write; once the watch shows any other version the entry is dropped.
struct RecentWrites<Object: KubernetesObject> {
    private var entries: [String: (replaced: String?, object: Object?)] = [:]

    /// `object` nil records a deletion.
    mutating func record(_ key: String, replaced: String?, object: Object?) {
        entries[key] = (replaced, object)
    }

    mutating func overlay(_ snapshot: inout [String: Object]) {
        for (key, entry) in entries {
            if snapshot[key]?.metadata.resourceVersion == entry.replaced {
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
