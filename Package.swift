// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "gateway",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gateway", targets: ["Gateway"]),
        .executable(name: "gateway-bench", targets: ["GatewayBench"]),
        .executable(name: "gateway-fuzz", targets: ["GatewayFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        // The point model, its codecs and the gzip body decoder. No I/O; libdeflate its only dependency.
        .target(name: "GatewayCore", dependencies: ["CLibdeflate"]),
        // libdeflate: gzip for request bodies, the influx2 sink's bodies and spool (several times zlib's speed).
        .systemLibrary(name: "CLibdeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // snappy block compression: the body encoding of Prometheus remote write.
        .systemLibrary(name: "CSnappy", pkgConfig: "snappy", providers: [.apt(["libsnappy-dev"])]),
        // The shared configuration reading every component uses: strict keys, file:line problems,
        // durations, sizes, `${VAR}`, paths resolved from the configuration file's folder.
        .target(name: "ConfigReading", dependencies: ["GatewayCore", .product(name: "Yams", package: "Yams")]),
        .target(
            name: "Sinks",
            dependencies: [
                "GatewayCore", "CLibdeflate", "CSnappy", "ConfigReading",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // prometheus_remote_write: the WriteRequest messages generated from its .proto files.
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["prometheus_remote_write/Proto/remote.proto", "prometheus_remote_write/Proto/types.proto"]
        ),
        .target(
            name: "Plugins",
            dependencies: [
                "GatewayCore", "ConfigReading",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                // dwmon: its state and `sqlite` sources, `http` sources and webhooks, `postgres` sources.
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                // BlockingPool: a fixed NIOThreadPool for plugins' blocking work.
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "Gateway",
            dependencies: [
                "GatewayCore", "ConfigReading", "Sinks", "Plugins", "CLibdeflate",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            plugins: ["BuildInfoPlugin"]
        ),
        // Writes the commit and build day into the gateway before each build (`gateway --version`).
        .plugin(name: "BuildInfoPlugin", capability: .buildTool(), path: "Sources/BuildInfoPlugin"),
        .executableTarget(
            name: "GatewayBench",
            dependencies: [
                "GatewayCore",
                // The spool scenarios drive SpoolStore and InfluxSink in process, proc-pass the collector.
                "Sinks", "Plugins",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Fuzzing targets for the decoders (scripts/fuzz.sh builds them with libFuzzer; a plain build
        // replays input files through them). Only GatewayCore, so the instrumented build is small.
        .executableTarget(name: "GatewayFuzz", dependencies: ["GatewayCore", "CLibdeflate", "CFuzzerDriver"]),
        // libFuzzer's driver entry, declared only: `-sanitize=fuzzer` links it in.
        .systemLibrary(name: "CFuzzerDriver"),
        .systemLibrary(name: "CHeapProbe"),
        .testTarget(name: "GatewayCoreTests", dependencies: ["GatewayCore", "CLibdeflate"]),
        .testTarget(
            name: "PluginsTests",
            dependencies: [
                "Plugins", "GatewayCore", "ConfigReading", "TestDoubles",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Test doubles shared by the test targets (a scripted Influx server, a manual clock).
        .target(
            name: "TestDoubles",
            dependencies: [
                "GatewayCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            path: "Tests/TestDoubles"
        ),
        .testTarget(
            name: "SinksTests",
            dependencies: [
                "Sinks", "GatewayCore", "ConfigReading", "TestDoubles", "CSnappy", "CHeapProbe",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "GatewayCore", "ConfigReading", "Sinks", "Plugins", "TestDoubles",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CompressNIO", package: "compress-nio"),
            ],
            resources: [.copy("Scripts")]
        ),
    ]
)
