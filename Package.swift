// swift-tools-version:6.1
import PackageDescription

// Our own targets build warning-free or not at all (dependencies keep their own settings).
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .unsafeFlags(["-warnings-as-errors"]),
]

let package = Package(
    name: "sharedlb",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sharedlb", targets: ["sharedlb"]),
        // The demo: everything in one process on a fresh machine, the in-repo API server included.
        .executable(name: "sharedlb-demo", targets: ["sharedlb-demo"]),
        // For Benchmarks/ and Fuzz/ (packages of their own that depend on this one); not a stable API.
        .library(name: "SharedLBCore", targets: ["SharedLBCore"]),
        .library(name: "SharedLBAllocation", targets: ["SharedLBAllocation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
    ],
    targets: [
        // Pure logic: JSON, JSON Patch, the conversion decision, typed API objects. Foundation only.
        .target(
            name: "SharedLBCore",
            swiftSettings: strict
        ),
        // Pure allocation logic: members and pools, the ledger codec, placement, mirroring, audit.
        .target(
            name: "SharedLBAllocation",
            dependencies: ["SharedLBCore"],
            swiftSettings: strict
        ),
        // Certificate authority and serving certificates (swift-certificates, no openssl).
        .target(
            name: "SharedLBCertificates",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // The HTTPS admission webhook server.
        .target(
            name: "SharedLBWebhook",
            dependencies: [
                "SharedLBCore",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strict
        ),
        // The Kubernetes API client: the only module that imports async-http-client.
        .target(
            name: "SharedLBKubernetes",
            dependencies: [
                "SharedLBCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // The allocator's control loops: informers, leader election, ledger writes, mirroring, results.
        .target(
            name: "SharedLBController",
            dependencies: [
                "SharedLBCore",
                "SharedLBAllocation",
                "SharedLBKubernetes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // A kube-apiserver for tests and the demo: the REST subset SharedLB uses, faithful to v1.24.
        .target(
            name: "SharedLBAPIServer",
            dependencies: [
                "SharedLBCore",
                "SharedLBCertificates",
                "SharedLBKubernetes",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // `sharedlb demo`: the API test server, the webhook, the allocator and a stand-in cloud in one process.
        .target(
            name: "SharedLBDemo",
            dependencies: [
                "SharedLBCore",
                "SharedLBAllocation",
                "SharedLBCertificates",
                "SharedLBController",
                "SharedLBKubernetes",
                "SharedLBAPIServer",
                "SharedLBWebhook",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // The executable only parses flags and wires modules together.
        .executableTarget(
            name: "sharedlb",
            dependencies: [
                "SharedLBCore",
                "SharedLBAllocation",
                "SharedLBController",
                "SharedLBKubernetes",
                "SharedLBCertificates",
                "SharedLBWebhook",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strict
        ),
        // `sharedlb-demo`: the demo's own executable (the product binary holds no demo or test code).
        .executableTarget(
            name: "sharedlb-demo",
            dependencies: [
                "SharedLBDemo",
                "SharedLBWebhook",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SharedLBCoreTests",
            dependencies: ["SharedLBCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SharedLBAllocationTests",
            dependencies: ["SharedLBAllocation", "SharedLBCore"],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SharedLBWebhookTests",
            dependencies: [
                "SharedLBCore",
                "SharedLBCertificates",
                "SharedLBWebhook",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SharedLBAPIServerTests",
            dependencies: [
                "SharedLBAPIServer",
                "SharedLBCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "SharedLBKubernetesTests",
            dependencies: [
                "SharedLBKubernetes",
                "SharedLBAPIServer",
                "SharedLBCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Test support: real control planes (etcd, kube-apiserver, kube-controller-manager, kube-proxy)
        // from SHAREDLB_KUBE_ASSETS, as controller-runtime's envtest starts them. Never in the product.
        .target(
            name: "SharedLBEnvtest",
            dependencies: [
                "SharedLBKubernetes",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Tests/SharedLBEnvtest",
            swiftSettings: strict
        ),
        // The real webhook, API server and client together, over TLS.
        .testTarget(
            name: "SharedLBIntegrationTests",
            dependencies: [
                "SharedLBCore",
                "SharedLBAllocation",
                "SharedLBController",
                "SharedLBDemo",
                "SharedLBCertificates",
                "SharedLBWebhook",
                "SharedLBAPIServer",
                "SharedLBKubernetes",
                "SharedLBEnvtest",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
