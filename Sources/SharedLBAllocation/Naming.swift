/// Generated names: every one is a valid DNS label (RFC 1123, and RFC 1035 for Service
/// names: starts with a letter), derived deterministically from what it names.
public enum Naming {
    /// Longest pool part of a shared LB name, so `sharedlb-<pool>-<n>` stays within 63.
    public static let maximumPoolLength = 40

    /// The pool part of a shared LB name: the `sharedlb.io/pool` value when it is already a
    /// short lowercase DNS label, otherwise a sanitised prefix plus a hash of the whole value
    /// (so two values that sanitise alike stay apart). No annotation: `default`.
    public static func poolName(_ annotation: String?) -> String {
        guard let annotation, !annotation.isEmpty else { return "default" }
        if annotation.count <= maximumPoolLength, isDNSLabel(annotation), annotation.first!.isLetter {
            return annotation
        }
        var sanitised = ""
        for character in annotation.lowercased() {
            let kept: Character = character.isASCII && (character.isLetter || character.isNumber) ? character : "-"
            if kept == "-" && sanitised.last == "-" { continue }
            sanitised.append(kept)
        }
        sanitised = String(sanitised.trimmingCharacters(in: "-").prefix(maximumPoolLength - 9))
        sanitised = sanitised.trimmingCharacters(in: "-")
        let hash = String(fnv1a64(annotation) & 0xffff_ffff, radix: 16).leftPadded(to: 8)
        return sanitised.isEmpty || !sanitised.first!.isLetter ? "p\(hash)" : "\(sanitised)-\(hash)"
    }

    /// `sharedlb-<pool>-<n>`.
    public static func sharedServiceName(pool: String, index: Int) -> String {
        "sharedlb-\(pool)-\(index)"
    }

    /// The `n` of `sharedlb-<pool>-<n>`, when `name` has that shape.
    public static func index(of name: String, pool: String) -> Int? {
        let prefix = "sharedlb-\(pool)-"
        guard name.hasPrefix(prefix), let index = Int(name.dropFirst(prefix.count)), index > 0,
            String(index) == name.dropFirst(prefix.count)
        else { return nil }
        return index
    }

    /// `sharedlb-ledger-<shared-lb>`.
    public static func ledgerName(sharedService: String) -> String {
        "sharedlb-ledger-\(sharedService)"
    }

    /// The shared LB a ledger ConfigMap name belongs to.
    public static func sharedService(ofLedger name: String) -> String? {
        let prefix = "sharedlb-ledger-"
        guard name.hasPrefix(prefix), name.count > prefix.count else { return nil }
        return String(name.dropFirst(prefix.count))
    }

    /// `<proto>-<port>`, e.g. `tcp-5432`.
    public static func portName(_ slot: Slot) -> String {
        "\(slot.protocol.rawValue.lowercased())-\(slot.port)"
    }

    /// The mirrored slice for one of a member's slices: `<shared-lb>-<hash>-<chunk>`, where the
    /// hash covers the member's uid and the source slice's name.
    public static func mirroredSliceName(sharedService: String, memberUID: String, sourceSlice: String, chunk: Int)
        -> String
    {
        let hash = String(fnv1a64("\(memberUID)/\(sourceSlice)"), radix: 16).leftPadded(to: 16)
        return "\(sharedService)-\(hash)-\(chunk)"
    }

    /// RFC 1123 label: 1-63 of `[a-z0-9-]`, alphanumeric at both ends.
    public static func isDNSLabel(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count) else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return alphanumeric(bytes.first!) && alphanumeric(bytes.last!)
            && bytes.allSatisfy { alphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    /// FNV-1a, 64 bit: a stable hash for names (not for security).
    public static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }

    fileprivate func trimmingCharacters(in set: Character) -> String {
        var view = Substring(self)
        while view.first == set { view = view.dropFirst() }
        while view.last == set { view = view.dropLast() }
        return String(view)
    }
}
