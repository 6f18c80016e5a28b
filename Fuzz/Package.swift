// swift-tools-version: 6.1
// libFuzzer targets; build and run them with scripts/fuzz.sh (not part of `swift build` at the root).
// SharedLBCore and SharedLBAllocation are the root package's sources (symlinked), built here as
// this package's own targets: the fuzz build compiles them with exactly its own flags, whatever
// SwiftPM does for dependencies, and needs none of the root package's dependencies.
import PackageDescription

let package = Package(
    name: "sharedlb-fuzz",
    targets: [
        .target(name: "SharedLBCore"),
        .target(name: "SharedLBAllocation", dependencies: ["SharedLBCore"]),
        .executableTarget(name: "FuzzAdmission", dependencies: ["SharedLBCore"]),
        .executableTarget(name: "FuzzLedger", dependencies: ["SharedLBCore", "SharedLBAllocation"]),
    ],
    swiftLanguageModes: [.v6]
)
