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

    /// One object: `current` (as the cache has it), or what this allocator wrote over it.
    mutating func overlay(_ key: String, _ current: Object?) -> Object? {
        guard let entry = entries[key] else { return current }
        if entry.replaced.contains(current?.metadata.resourceVersion) { return entry.object }
        entries[key] = nil
        return current
    }

    /// A part of the cache (`view`: the objects for which `belongs` holds), with what this
    /// allocator wrote over them; `current` reads the whole cache.
    mutating func overlay(
        _ view: inout [String: Object], current: (String) -> Object?, belongs: (Object) -> Bool
    ) {
        for (key, entry) in entries {
            guard entry.replaced.contains(current(key)?.metadata.resourceVersion) else {
                entries[key] = nil
                continue
            }
            view[key] = entry.object.flatMap { belongs($0) ? $0 : nil }
        }
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
