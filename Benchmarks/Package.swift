// swift-tools-version: 6.1
// ordo-one/benchmark suites for SharedLB's hot pure paths:
//   swift package --package-path Benchmarks benchmark
// (a package of its own, so the root build and `swift test` never build the benchmark tooling).
import PackageDescription

let package = Package(
    name: "sharedlb-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "sharedlb", path: ".."),
        // Only the MallocInterposer trait: the default RuntimeInterposer needs a package this
        // machine kind does not carry, and malloc counts are what we want.
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SharedLBBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "SharedLBCore", package: "sharedlb"),
                .product(name: "SharedLBAllocation", package: "sharedlb"),
            ],
            path: "Benchmarks/SharedLBBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
