// swift-tools-version:6.2
import PackageDescription

/// One settings list for every Swift target (grpc-swift-2's `defaultSwiftSettings`). A warning
/// in the project's own code fails its build (`Deploy/check-imports` guards the declared imports).
let defaultSwiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "AuditPipe",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "AuditPipeClient", targets: ["AuditPipeClient"]),
        .executable(name: "auditpipe", targets: ["auditpipe"]),
        .executable(name: "auditpipe-dev-kafka", targets: ["auditpipe-dev-kafka"]),
        .executable(name: "auditpipe-tools", targets: ["auditpipe-tools"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3" ..< "5.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        // MARK: C libraries (Debian packages)

        .systemLibrary(
            name: "CRdkafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // hiredis (Debian's libhiredis-dev, installed by Deploy/dev/up) from the system include
        // path: its pkg-config flags add nothing here and one of them, -D_FILE_OFFSET_BITS=64,
        // makes every build warn ("prohibited flag").
        .systemLibrary(name: "CHiredis"),

        // MARK: Thin wrappers: the only targets that see a C pointer

        .target(
            name: "KafkaClient",
            dependencies: [
                "CRdkafka",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "KafkaMockCluster",
            dependencies: ["CRdkafka"],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        // MARK: Pure Swift building blocks

        .target(
            name: "ClickHouseHTTP",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AvroCodec",
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AuditEvents",
            dependencies: ["AvroCodec"],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AuditIngest",
            dependencies: [
                "AuditEvents",
                "AvroCodec",
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AuditPipeProto",
            dependencies: [
                "AuditEvents",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        .target(
            name: "SchemaRegistry",
            dependencies: [
                "AvroCodec",
                "KafkaClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        .target(
            name: "LegacyMapping",
            dependencies: [
                "AuditEvents",
                "AvroCodec",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        .target(
            name: "SchemaTools",
            dependencies: ["AvroCodec", "SchemaRegistry", .product(name: "Logging", package: "swift-log")],
            swiftSettings: defaultSwiftSettings
        ),

        .target(
            name: "AuditIntegrity",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: defaultSwiftSettings
        ),
        // AuditPipe's tables in ClickHouse: their names, migrations, and the reads the sink,
        // reports and Verify share.
        .target(
            name: "AuditStore",
            dependencies: [
                "AuditEvents", "AuditIntegrity", "ClickHouseHTTP",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        // Reading the events topic: records decoded against their writer schemas, the buffered
        // consumer loop, consumer lag, retry decisions. Shared by the sink and recent events.
        .target(
            name: "AuditConsumer",
            dependencies: [
                "AuditEvents", "AvroCodec", "KafkaClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        // Each user's newest events in Redis: the store, its sink, and the stored-event encoding.
        .target(
            name: "AuditRecent",
            dependencies: [
                "AuditConsumer", "AuditEvents", "AvroCodec", "KafkaClient", "RedisClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AuditSink",
            dependencies: [
                "AuditStore",
                "AuditConsumer",
                "AuditIntegrity",
                "KafkaClient", "ClickHouseHTTP", "RedisClient", "AuditEvents", "AvroCodec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AuditQuery",
            dependencies: [
                "AuditStore", "AuditIntegrity",
                "AuditEvents", "ClickHouseHTTP",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AuditAuth",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        // MARK: The client library

        .target(
            name: "AuditPipeClient",
            dependencies: [
                "AuditEvents",
                "AuditPipeProto",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        .target(
            name: "AuditSimulator",
            dependencies: [
                "AuditEvents", "AuditPipeClient", "AuditPipeProto", "AvroCodec",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        // MARK: The server

        .target(
            name: "AuditBench",
            dependencies: [
                "AuditStore",
                "AuditConsumer", "AuditRecent",
                "AuditPipeClient", "AuditEvents", "AvroCodec", "KafkaClient", "LegacyMapping",
                "AuditSink", "AuditQuery", "AuditPipeProto", "ClickHouseHTTP", "RedisClient",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .target(
            name: "AuditServer",
            dependencies: [
                "AuditStore",
                "AuditIntegrity",
                "AuditPipeProto",
                "AuditEvents",
                "AuditIngest",
                "KafkaClient",
                "SchemaRegistry",
                "AvroCodec",
                "LegacyMapping",
                "AuditAuth",
                "AuditQuery",
                "AuditSink",
                "AuditConsumer",
                "AuditRecent",
                "ClickHouseHTTP",
                "RedisClient",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        // MARK: Executables

        .executableTarget(
            name: "auditpipe",
            dependencies: [
                "AuditStore",
                "AuditConsumer",
                "AuditEvents",
                "AuditIntegrity",
                "AuditQuery",
                "ClickHouseHTTP",
                "KafkaClient",
                "AuditServer",
                "AuditSink",
                "LegacyMapping",
                "SchemaTools",
                "AvroCodec",
                "AuditPipeProto",
                "AuditAuth",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        // The benchmarks and the simulated services: tools that drive the product, not part of it.
        .executableTarget(
            name: "auditpipe-tools",
            dependencies: [
                "AuditBench",
                "AuditSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .executableTarget(
            name: "auditpipe-dev-kafka",
            dependencies: [
                "KafkaMockCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: defaultSwiftSettings
        ),

        // MARK: Tests

        .target(
            name: "AuditPipeTestSupport",
            dependencies: ["SchemaRegistry", "AuditQuery", "AuditPipeProto", .product(name: "NIOCore", package: "swift-nio"), .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            path: "Tests/AuditPipeTestSupport",
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AvroCodecTests",
            dependencies: ["AvroCodec", "AuditPipeTestSupport"],
            exclude: ["avro_oracle.py"],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditEventsTests",
            dependencies: ["AuditEvents", "AuditIngest", "AvroCodec", "AuditPipeTestSupport"],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "KafkaMockClusterTests",
            dependencies: ["KafkaMockCluster"],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "SchemaRegistryTests",
            dependencies: [
                "SchemaRegistry", "AvroCodec", "KafkaClient", "AuditPipeTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["registry_interop.py"],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "LegacyMappingTests",
            dependencies: ["LegacyMapping", "AuditEvents"],
            exclude: ["Corpus"],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "SchemaToolsTests",
            dependencies: [
                "SchemaTools", "SchemaRegistry", "AvroCodec", "auditpipe", "AuditPipeTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditSimulatorTests",
            dependencies: [
                "AuditSimulator", "AuditEvents", "LegacyMapping", "AuditPipeProto",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditQueryTests",
            dependencies: [
                "AuditStore",
                "AuditQuery", "AuditEvents", "ClickHouseHTTP", "AuditPipeProto", "AuditPipeTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditAuthTests",
            dependencies: [
                "AuditAuth", "AuditQuery", "AuditServer", "ClickHouseHTTP", "AuditPipeProto", "AuditPipeTestSupport",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditSinkTests",
            dependencies: [
                "AuditStore",
                "AuditSink", "AuditConsumer", "AuditRecent", "AuditPipeTestSupport", "KafkaClient", "ClickHouseHTTP", "RedisClient", "AuditEvents", "AvroCodec", "AuditIntegrity",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["tcp_proxy.py"],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "KafkaClientTests",
            dependencies: ["KafkaClient", "AuditPipeTestSupport", .product(name: "Logging", package: "swift-log")],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: ["RedisClient", "AuditPipeTestSupport"],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "ClickHouseHTTPTests",
            dependencies: ["ClickHouseHTTP", "AuditPipeTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditIntegrityTests",
            dependencies: [
                "AuditStore", "AuditQuery",
                "AuditIntegrity", "AuditSink", "AuditConsumer", "AuditPipeTestSupport", "KafkaClient", "ClickHouseHTTP", "AuditEvents", "AvroCodec",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditBenchTests",
            dependencies: [
                "AuditStore",
                "AuditBench", "AuditEvents", "AvroCodec", "AuditPipeTestSupport", "AuditPipeProto", "AuditQuery", "AuditSink", "ClickHouseHTTP",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: defaultSwiftSettings
        ),
        .testTarget(
            name: "AuditServerTests",
            dependencies: [
                "AuditServer",
                "AuditIngest",
                "AuditQuery",
                "ClickHouseHTTP",
                "AuditSink",
                "AuditConsumer",
                "AuditRecent",
                "KafkaClient",
                "AuditPipeProto",
                "AuditPipeClient",
                "AuditEvents",
                "AuditAuth",
                "AuditIntegrity",
                "AuditSimulator",
                "AuditPipeTestSupport",
                "AvroCodec",
                "RedisClient",
                "SchemaRegistry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
                .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["confluent_consume.py", "grpcio_client.py", "hostile_client.py"],
            swiftSettings: defaultSwiftSettings
        ),
    ]
)
