// swift-tools-version:6.2
// The examples, one executable target each, in one package so that `make test` builds their
// shared dependencies (SwiftNIO, Hummingbird) once. Each depends only on the products it uses:
// `swift build --product HummingbirdMemcached` compiles neither RedisClient nor swift-nio-ssl.
// The *Tour targets and HummingbirdQuickStart hold the README's code blocks verbatim
// (scripts/check-readme-snippets.py), so every snippet the README shows compiles.
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
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.36.0"),
        .package(url: "https://github.com/vapor/vapor.git", from: "4.122.3"),
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
        ),
        // The same, hardened: sessions encrypted at rest, memcached with a login (-Y) and TLS (-Z).
        .executableTarget(
            name: "HummingbirdSecureMemcached",
            dependencies: [
                .product(name: "HummingbirdSessionManager", package: sessionManager),
                .product(name: "MemcachedClient", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "MemcachedTLS", package: sessionManager),
                .product(name: "SessionCrypto", package: sessionManager),
                .product(name: "SessionManager", package: sessionManager),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The README's quick start.
        .executableTarget(
            name: "HummingbirdQuickStart",
            dependencies: [
                .product(name: "HummingbirdSessionManager", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "SessionManager", package: sessionManager),
                .product(name: "Hummingbird", package: "hummingbird"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // A shopping cart as a typed session value, login through hummingbird-auth, logout,
        // and tests on the memory store.
        .executableTarget(
            name: "HummingbirdCart",
            dependencies: [
                .product(name: "HummingbirdSessionManager", package: sessionManager),
                .product(name: "HummingbirdSessionAuth", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "SessionManager", package: sessionManager),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "HummingbirdCartTests",
            dependencies: [
                "HummingbirdCart",
                .product(name: "SessionManager", package: sessionManager),
                .product(name: "SessionManagerTesting", package: sessionManager),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // Vapor + memcached: the README's Vapor example; compiles no Hummingbird.
        .executableTarget(
            name: "VaporMemcached",
            dependencies: [
                .product(name: "VaporSessionManager", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "SessionManager", package: sessionManager),
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The README's Vapor SessionDriver example (existing `req.session` code on the store).
        .executableTarget(
            name: "VaporSessionDriverTour",
            dependencies: [
                .product(name: "VaporSessionManager", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "SessionManager", package: sessionManager),
                .product(name: "Vapor", package: "vapor"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        // The README's protocol-client and core examples.
        .executableTarget(
            name: "MemcachedClientTour",
            dependencies: [
                .product(name: "MemcachedClient", package: sessionManager),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "RedisClientTour",
            dependencies: [
                .product(name: "RedisClient", package: sessionManager),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .executableTarget(
            name: "SessionManagerTour",
            dependencies: [
                .product(name: "MemcachedClient", package: sessionManager),
                .product(name: "MemcachedSessionStore", package: sessionManager),
                .product(name: "SessionManager", package: sessionManager),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)
