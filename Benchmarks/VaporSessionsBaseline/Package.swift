// swift-tools-version:6.2
// Vapor's stock `SessionsMiddleware` on the demo's counter page, for `make bench-http` to put
// beside our middleware: with Vapor's `MemorySessions` (one process, not shared), `FluentSessions`
// on PostgreSQL (the usual shared choice) and our `DistributedSessionDriver` (the drop-in path).
// A package of its own so that neither `make test` nor the library's users ever compile Fluent or
// PostgresNIO; only the benchmark builds it (release).
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its folder, which is wherever this repository was cloned.
let sessionManager = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "vapor-sessions-baseline",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: "../.."),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
        .package(url: "https://github.com/vapor/fluent.git", from: "4.13.0"),
        .package(url: "https://github.com/vapor/fluent-postgres-driver.git", from: "2.14.0"),
    ],
    targets: [
        .executableTarget(
            name: "VaporSessionsBaseline",
            dependencies: [
                .product(name: "Vapor", package: "vapor"),
                .product(name: "Fluent", package: "fluent"),
                .product(name: "FluentPostgresDriver", package: "fluent-postgres-driver"),
                .product(name: "VaporSessionManager", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "RedisSessionStore", package: sessionManager),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
