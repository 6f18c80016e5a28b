// The ledger decoder: a ConfigMap as the API server would send it (JSON, decoded the way the
// allocator's informer does) → LedgerShard. Malformed input must be an error naming the
// problem, never a crash; whatever decodes must encode back to data that decodes to the same
// shard (the allocator rewrites shards it has read). The first byte picks the form: even → the
// rest is ConfigMap JSON; odd → the rest is the `allocations` text of an otherwise valid shard.
import Foundation
import SharedLBAllocation
import SharedLBCore

private let validKey = CompatibilityKey(pool: "default", settings: JSONObject(), annotations: [:]).canonical

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let rest = Data(bytes.dropFirst())
    let name: String
    let data: [String: String]
    if bytes[0] % 2 == 0 {
        guard let configMap = try? JSONDecoder().decode(ConfigMap.self, from: rest) else { return 0 }
        name = configMap.metadata.name ?? ""
        data = configMap.data ?? [:]
    } else {
        name = "sharedlb-ledger-sharedlb-default-1"
        data = [
            "schema": LedgerShard.schema, "key": validKey,
            "allocations": String(decoding: rest, as: UTF8.self),
        ]
    }
    let shard: LedgerShard
    do {
        shard = try LedgerShard(configMapName: name, data: data)
    } catch {
        precondition(!error.message.isEmpty, "an error without a message")
        return 0
    }
    let again: LedgerShard
    do {
        again = try LedgerShard(configMapName: shard.configMapName, data: shard.data)
    } catch {
        fatalError("a decoded shard does not decode after encoding: \(error.message)\n\(shard.data)")
    }
    precondition(again == shard, "round trip changed the shard:\n\(shard.data)\n\(again.data)")
    precondition(again.data == shard.data, "encoding is not stable")
    return 0
}
