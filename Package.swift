// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Ferry",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ferry", targets: ["ferry"]),
        .executable(name: "kubectl-ferry", targets: ["kubectl-ferry"]),
        .library(name: "KubeClient", targets: ["KubeClient"]),
        .library(name: "KubeSim", targets: ["KubeSim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .target(
            name: "KubeClient",
            dependencies: [
                "ProcessSpawn",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(name: "ProcessSpawn"),
        // Linux interfaces Glibc's module does not carry (fanotify, file handles, FICLONE).
        .target(name: "CLinux"),
        .target(
            name: "KubeSim",
            dependencies: [
                "KubeClient",
                "ProcessSpawn",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "KubeRuntime",
            dependencies: [
                "KubeClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(name: "FerryAPI", dependencies: ["KubeClient", "FerryProtocol"]),
        // The contract between the controller and the step processes: no dependencies.
        .target(name: "FerryProtocol"),
        .target(name: "FerryEngine", dependencies: ["FerryAPI", "FerryProtocol", "KubeClient"]),
        .target(
            name: "FerrySteps",
            dependencies: [
                "FerryProtocol",
                "KubeClient",
                "ProcessSpawn",
                "CLinux",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "FerryOperator",
            dependencies: [
                "FerryAPI", "FerryEngine", "FerryProtocol", "KubeClient", "KubeRuntime",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "FerryController",
            dependencies: [
                "KubeClient", "KubeRuntime", "FerryAPI", "FerryEngine", "FerryOperator",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The kubectl plugin: `kubectl ferry status|plan|pause|resume|rerun|cancel|cutover|logs`.
        .target(
            name: "FerryPlugin",
            dependencies: [
                "FerryAPI", "FerryEngine", "FerryOperator", "FerryProtocol", "FerrySteps", "KubeClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(name: "kubectl-ferry", dependencies: ["FerryPlugin"]),
        .executableTarget(name: "ferry", dependencies: ["FerryCLI"]),
        .target(
            name: "FerryCLI",
            dependencies: [
                "FerryProtocol",
                "FerryController",
                "KubeClient",
                "KubeSim",
                "KubeRuntime",
                "FerryAPI",
                "FerryEngine",
                "FerryOperator",
                "FerrySteps",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "KubeClient",
                "KubeSim",
                "ProcessSpawn",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/TestSupport"
        ),
        .executableTarget(
            name: "kube-bench",
            dependencies: [
                "KubeClient",
                "KubeSim",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Benchmarks/KubeBench"
        ),
        .executableTarget(
            name: "controller-bench",
            dependencies: [
                "KubeClient", "FerryAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            path: "Benchmarks/ControllerBench"
        ),
        .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "KubeSim", "TestSupport", "ProcessSpawn", .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .testTarget(name: "FerryAPITests", dependencies: ["FerryAPI", "FerryProtocol", "KubeClient", "KubeSim", "TestSupport", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "KubeRuntimeTests", dependencies: ["KubeRuntime", "KubeClient", "KubeSim", "TestSupport", "ProcessSpawn"]),
        .testTarget(name: "FerryOperatorTests", dependencies: ["FerryPlugin", "FerryOperator", "FerryEngine", "FerryProtocol", "FerryAPI", "FerrySteps", "KubeRuntime", "KubeClient", "KubeSim", "TestSupport", "ProcessSpawn"]),
        .testTarget(name: "FerryEngineTests", dependencies: ["FerryEngine", "FerryAPI", "FerryProtocol", "KubeClient"]),
        .testTarget(name: "FerryProtocolTests", dependencies: ["FerryProtocol", "FerryCLI", "FerryOperator", "FerryAPI", "KubeClient", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "FerryStepsTests", dependencies: ["FerrySteps", "FerryProtocol", "KubeClient", "TestSupport", "ProcessSpawn", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio")]),
        .testTarget(name: "KubeSimTests", dependencies: ["KubeClient", "KubeSim", "TestSupport", "ProcessSpawn"]),
    ],
    swiftLanguageModes: [.v6]
)
