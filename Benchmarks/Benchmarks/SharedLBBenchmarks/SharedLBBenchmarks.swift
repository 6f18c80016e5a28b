// The hot pure paths, with allocation counts (MallocInterposer):
//   swift package --package-path Benchmarks benchmark
// Admission: one AdmissionReview decoded, converted and answered (the captured 01 fixture, and
// the same with a 1 MiB last-applied annotation and managedFields, the worst a kubectl user
// sends). Placement: 10,000 members, first placement and the steady-state re-plan every
// reconcile pass makes. Ledger: a 10,000-allocation shard encoded and decoded.
import Benchmark
import Foundation
import SharedLBAllocation
import SharedLBCore

let fixtures = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Tests/SharedLBCoreTests/Fixtures")

func smallReview() -> [UInt8] {
    let url = fixtures.appendingPathComponent("01-apply-lb-plain.review.json")
    guard let data = try? Data(contentsOf: url) else { fatalError("cannot read \(url.path)") }
    return Array(data)
}

/// The small review with 1 MiB of last-applied configuration and managedFields added.
func largeReview() -> [UInt8] {
    guard var review = try? JSONSerialization.jsonObject(with: Data(smallReview())) as? [String: Any],
        var request = review["request"] as? [String: Any],
        var object = request["object"] as? [String: Any],
        var metadata = object["metadata"] as? [String: Any]
    else { fatalError("unexpected fixture shape") }
    var annotations = metadata["annotations"] as? [String: String] ?? [:]
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = String(repeating: "x", count: 512 * 1024)
    metadata["annotations"] = annotations
    metadata["managedFields"] = (0..<2048).map { index in
        [
            "manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
            "time": "2026-11-27T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": ["f:metadata": ["f:labels": ["f:app\(index)": [String: String]()]]],
        ] as [String: Any]
    }
    object["metadata"] = metadata
    request["object"] = object
    review["request"] = request
    guard let data = try? JSONSerialization.data(withJSONObject: review) else { fatalError("cannot encode") }
    return Array(data)
}

/// Members like the allocator's scale probe makes: one or two ports each from 500 distinct numbers.
func members(_ count: Int) -> [Member] {
    (0..<count).map { index in
        var ports = [KubeService.Port(name: "p0", protocol: "TCP", port: 1000 + index % 500)]
        if index % 4 == 0 { ports.append(KubeService.Port(name: "p1", protocol: "TCP", port: 2000 + index % 250)) }
        var service = KubeService(
            metadata: ObjectMeta(
                name: "svc-\(index)", namespace: "ns-\(index % 50)", labels: [SharedLBNames.managedLabel: "true"],
                annotations: [
                    SharedLBNames.requestedAnnotation:
                        #"{"allocateLoadBalancerNodePorts":true,"externalTrafficPolicy":"Cluster"}"#
                ]),
            spec: KubeService.Spec(type: "ClusterIP", ports: ports, selector: ["app": "svc-\(index)"]))
        service.metadata.uid = "uid-\(index)"
        service.metadata.creationTimestamp = "2026-11-27T00:00:00Z"
        guard let member = Member(service: service) else { fatalError("not a member") }
        return member
    }
}

func bigShard(_ count: Int) -> LedgerShard {
    let key = CompatibilityKey(pool: "default", settings: JSONObject(), annotations: [:])
    let allocations = (0..<count).map { index in
        Allocation(
            slot: Slot(port: 10000 + index, protocol: .tcp), namespace: "ns-\(index % 50)", name: "svc-\(index)",
            portName: "p0", uid: "0c9d7a51-6d8e-4a0b-9c55-\(String(format: "%012d", index))", target: 8080)
    }
    return LedgerShard(sharedService: "sharedlb-default-1", key: key, allocations: allocations)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal, .peakMemoryResident, .throughput],
        maxDuration: .seconds(5), maxIterations: 10_000)

    let reviewer = AdmissionReviewer(policy: ConversionPolicy())
    let small = smallReview()
    let large = largeReview()

    Benchmark("admission: decode + mutate + encode, small Service (\(small.count) B)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try reviewer.review(small).responseBody())
        }
    }
    Benchmark("admission: decode + mutate + encode, 1 MiB object (\(large.count / 1024) KiB)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try reviewer.review(large).responseBody())
        }
    }

    let configuration = PlacementConfiguration(maximumLBsPerPool: 0)
    let tenThousand = members(10_000)
    let placed = Planner.plan(members: tenThousand, shards: [], configuration: configuration)
    let ledger = Array(placed.shards.values)

    Benchmark("placement: 10,000 members, empty ledger", configuration: .init(maxIterations: 20)) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Planner.plan(members: tenThousand, shards: [], configuration: configuration))
        }
    }
    Benchmark(
        "placement: 10,000 members, ledger already holds them (a steady pass)", configuration: .init(maxIterations: 20)
    ) {
        benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(Planner.plan(members: tenThousand, shards: ledger, configuration: configuration))
        }
    }

    let shard = bigShard(10_000)
    let data = shard.data
    Benchmark("ledger: encode a 10,000-allocation shard (\(data["allocations"]!.utf8.count / 1024) KiB)") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(shard.data)
        }
    }
    Benchmark("ledger: decode a 10,000-allocation shard") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try LedgerShard(configMapName: shard.configMapName, data: data))
        }
    }
}
