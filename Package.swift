// swift-tools-version:6.2
import PackageDescription

let strictSwift6: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "swift-session-manager",
    platforms: [.macOS(.v15)],
    products: [
        // The session core and its framework adapters: no protocol client inside.
        .library(name: "SessionManager", targets: ["SessionManager"]),
        .library(name: "HummingbirdSessionManager", targets: ["HummingbirdSessionManager"]),
        // hummingbird-auth's authenticator over distributed sessions (login puts the user in context.identity).
        .library(name: "HummingbirdSessionAuth", targets: ["HummingbirdSessionAuth"]),
        // The Vapor 4 middleware and `req.distributedSession` (a Hummingbird app never compiles Vapor).
        .library(name: "VaporSessionManager", targets: ["VaporSessionManager"]),
        // AES-256-GCM for stored sessions (configuration.encryption): only apps that encrypt compile a crypto library.
        .library(name: "SessionCrypto", targets: ["SessionCrypto"]),
        // Faults on demand over the memory store, for your own tests.
        .library(name: "SessionManagerTesting", targets: ["SessionManagerTesting"]),
        // Session stores: pick the one you run; only it and its client get compiled.
        .library(name: "MemcachedSessionStore", targets: ["MemcachedSessionStore"]),
        .library(name: "RedisSessionStore", targets: ["RedisSessionStore"]),
        // Hummingbird PersistDrivers (for hummingbird-auth's own SessionMiddleware).
        .library(name: "MemcachedPersistDriver", targets: ["MemcachedPersistDriver"]),
        .library(name: "RedisPersistDriver", targets: ["RedisPersistDriver"]),
        // The protocol clients alone: they know nothing of sessions.
        .library(name: "MemcachedClient", targets: ["MemcachedClient"]),
        // TLS to memcached (`memcached -Z`): `configuration.useTLS(...)`; swift-nio-ssl only for those who use it.
        .library(name: "MemcachedTLS", targets: ["MemcachedTLS"]),
        .library(name: "RedisClient", targets: ["RedisClient"]),
        .executable(name: "msm", targets: ["msm"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
    ],
    targets: [
        .target(
            name: "PipelinedConnections",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "PipelinedTLS",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "MemcachedTLS",
            dependencies: [
                "MemcachedClient",
                "PipelinedTLS",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "MemcachedClient",
            dependencies: [
                "PipelinedConnections",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "SessionCrypto",
            dependencies: [
                "SessionManager",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "SessionManager",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "SessionManagerTesting",
            dependencies: ["SessionManager"],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "MemcachedSessionStore",
            dependencies: [
                "SessionManager",
                "MemcachedClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "RedisSessionStore",
            dependencies: [
                "SessionManager",
                "RedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "HummingbirdSessionManager",
            dependencies: [
                "SessionManager",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "HummingbirdSessionAuth",
            dependencies: [
                "HummingbirdSessionManager",
                "SessionManager",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "VaporSessionManager",
            dependencies: [
                "SessionManager",
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "PersistDriverSupport",
            dependencies: [
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "MemcachedPersistDriver",
            dependencies: [
                "MemcachedClient",
                "PersistDriverSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "RedisPersistDriver",
            dependencies: [
                "RedisClient",
                "PersistDriverSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "msm",
            dependencies: [
                "HummingbirdSessionManager",
                "VaporSessionManager",
                .product(name: "Vapor", package: "vapor"),
                "SessionManager",
                "MemcachedSessionStore",
                "RedisSessionStore",
                "MemcachedClient",
                "MemcachedTLS",
                "PipelinedConnections",
                "SessionCrypto",
                "RedisClient",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "ServerTestSupport",
            dependencies: [
                "MemcachedClient",
                "RedisClient",
                "SessionManager",
                "SessionManagerTesting",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/ServerTestSupport",
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "MemcachedClientTests",
            dependencies: [
                "MemcachedClient",
                "MemcachedTLS",
                "PipelinedConnections",
                "ServerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "SessionManagerTestSupport",
            dependencies: [
                "SessionManager",
                "MemcachedSessionStore",
                "RedisSessionStore",
                "ServerTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/SessionManagerTestSupport",
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "SessionManagerTests",
            dependencies: [
                "SessionCrypto",
                "SessionManager",
                "SessionManagerTestSupport",
                "ServerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        // `msm serve`'s settings, warnings and event-loop sizing, without starting a server.
        .testTarget(
            name: "MsmTests",
            dependencies: ["msm"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "SessionCryptoTests",
            dependencies: [
                "SessionCrypto",
                "SessionManager",
                "ServerTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "SessionManagerTestingTests",
            dependencies: ["SessionManagerTesting", "SessionManager"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "MemcachedSessionStoreTests",
            dependencies: ["MemcachedSessionStore", "MemcachedClient", "SessionManager"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "RedisSessionStoreTests",
            dependencies: ["RedisSessionStore", "RedisClient", "MemcachedSessionStore", "MemcachedClient", "SessionManager"],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "SessionStoreConformanceTests",
            dependencies: [
                "SessionManager",
                "SessionManagerTestSupport",
                "ServerTestSupport",
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HummingbirdSessionManagerTests",
            dependencies: [
                "HummingbirdSessionManager",
                "SessionManagerTestSupport",
                "SessionManager",
                "ServerTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "HummingbirdSessionAuthTests",
            dependencies: [
                "HummingbirdSessionAuth",
                "HummingbirdSessionManager",
                "SessionManager",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "VaporSessionManagerTests",
            dependencies: [
                "VaporSessionManager",
                "SessionManager",
                "SessionManagerTesting",
                "SessionManagerTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Vapor", package: "vapor"),
                .product(name: "VaporTesting", package: "vapor"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "PersistDriverTests",
            dependencies: [
                "MemcachedPersistDriver",
                "RedisPersistDriver",
                "MemcachedClient",
                "RedisClient",
                "ServerTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "MsmEndToEndTests",
            dependencies: [
                "ServerTestSupport"
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "RedisClient",
            dependencies: [
                "PipelinedConnections",
                "PipelinedTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSwift6
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "RedisClient",
                "MemcachedClient",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                "PipelinedConnections",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                "ServerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: strictSwift6
        ),
        .target(
            name: "BenchmarkSupport",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio")
            ],
            path: "Benchmarks/BenchmarkSupport",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "MemcachedClientBenchmark",
            dependencies: [
                "BenchmarkSupport",
                "MemcachedClient",
                "ServerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/MemcachedClientBenchmark",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "SessionEncryptionBenchmark",
            dependencies: ["SessionCrypto", "SessionManager", .product(name: "Crypto", package: "swift-crypto")],
            path: "Benchmarks/SessionEncryptionBenchmark",
            swiftSettings: strictSwift6
        ),
        .executableTarget(
            name: "RedisClientBenchmark",
            dependencies: [
                "BenchmarkSupport",
                "RedisClient",
                "ServerTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/RedisClientBenchmark",
            swiftSettings: strictSwift6
        ),
    ]
)
