// swift-tools-version:6.2
// The examples, one executable target each, in one package so that `make test` builds their
// shared dependencies (SwiftNIO, Hummingbird) once. Each depends only on the products it uses:
// `swift build --product HummingbirdMemcached` compiles neither RedisClient nor swift-nio-ssl.
import Foundation
import PackageDescription

/// SwiftPM names a path dependency after its folder, which is wherever this repository was cloned.
let sessionManager = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "swift-session-manager-examples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        // Hummingbird + memcached: the smallest distributed-session app.
        .executableTarget(
            name: "HummingbirdMemcached",
            dependencies: [
                .product(name: "HummingbirdSessionManager", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "SessionManager", package: sessionManager),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        )
    ]
)
