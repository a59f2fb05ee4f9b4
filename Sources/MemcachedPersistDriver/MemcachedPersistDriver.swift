import Hummingbird
import MemcachedClient
import PersistDriverSupport
import ServiceLifecycle

/// A Hummingbird `PersistDriver` that keeps its key/value pairs in one memcached server.
///
/// It makes memcached the store of everything built on Hummingbird's persist framework, in
/// particular hummingbird-auth's `SessionMiddleware`: replace `MemoryPersistDriver()` with this
/// driver and sessions survive a restart and are shared by every app server.
///
/// ```swift
/// import Hummingbird
/// import HummingbirdAuth
/// import MemcachedClient
/// import MemcachedPersistDriver
///
/// let client = try MemcachedClient(server: MemcachedServer(parsing: "127.0.0.1:11211"))
/// let router = Router(context: BasicSessionRequestContext<UUID, User>.self)
/// router.add(middleware: SessionMiddleware(storage: try MemcachedPersistDriver(client: client)))
/// var app = Application(router: router)
/// app.addServices(client)   // the client is a Service: it closes its connections on shutdown
/// ```
///
/// (`HummingbirdSessionManager`'s own session types are named `DistributedSession...`, so it
/// imports beside hummingbird-auth.)
///
/// Semantics, matching Hummingbird's `MemoryPersistDriver`:
/// - Values are stored as JSON (`JSONEncoder`/`JSONDecoder`). A stored value that does not decode
///   as the requested type throws `PersistError.invalidConversion`. JSON is more forgiving than the
///   memory driver's cast: a value decodes as any type with a compatible shape.
/// - Expirations are memcached's: whole seconds, a fraction rounds up; a zero or negative
///   expiration makes the value expire at once. Without one the item never expires (memcached may
///   still evict it under memory pressure).
/// - Keys are ``keyPrefix`` followed by the caller's key and must form a valid memcached key
///   (1 to 250 bytes, no space or control character). Anything else throws
///   `MemcachedError` with code `invalidKey` before a byte is sent; keys are never rewritten
///   (rewriting could make two keys collide).
/// - Failures of memcached itself (server down, timeout, value too large) are thrown as
///   `MemcachedError`.
public struct MemcachedPersistDriver: PersistDriver {
    /// The default ``keyPrefix``.
    public static let defaultKeyPrefix = "hb:"

    /// The memcached server holding the values.
    public let client: MemcachedClient
    /// Put in front of every key, so that these values do not collide with other users of the server.
    public let keyPrefix: String

    /// Creates a driver over one memcached server.
    ///
    /// - Parameters:
    ///   - client: the server's client; run it as a service (or shut it down yourself) for as long
    ///     as the driver is used.
    ///   - keyPrefix: put in front of every key; may be empty. Printable, no spaces.
    /// - Throws: `MemcachedError` with code `invalidKey` when `keyPrefix` cannot start a memcached key.
    public init(client: MemcachedClient, keyPrefix: String = MemcachedPersistDriver.defaultKeyPrefix) throws(MemcachedError) {
        try Self.validate(keyPrefix: keyPrefix)
        self.client = client
        self.keyPrefix = keyPrefix
    }

    // MARK: PersistDriver

    /// Stores `value` under `key` only if the key holds nothing yet (memcached `add`).
    ///
    /// - Parameters:
    ///   - key: the key, without ``keyPrefix``.
    ///   - value: the value, stored as JSON.
    ///   - expires: how long the value lives; `nil`: until removed.
    /// - Throws: `PersistError.duplicate` when the key exists; `MemcachedError` for an invalid key
    ///   or a memcached failure; the encoder's error when the value cannot be encoded.
    public func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let memcachedKey = try makeKey(key)
        let bytes = try PersistJSON.encode(value)
        guard try await client.add(memcachedKey, value: bytes, expiration: expiration(expires)) else {
            throw PersistError.duplicate
        }
    }

    /// Stores `value` under `key`, replacing any value there.
    ///
    /// - Parameters:
    ///   - key: the key, without ``keyPrefix``.
    ///   - value: the value, stored as JSON.
    ///   - expires: how long the value lives. With `nil` an existing value's expiration is kept
    ///     (the remaining time memcached reports, in whole seconds; at least one second); a new
    ///     value then never expires. Keeping it costs one extra read, and the write is a
    ///     compare-and-swap so that a concurrent writer's expiration is not replaced by a stale one.
    /// - Throws: `MemcachedError` for an invalid key or a memcached failure; the encoder's error
    ///   when the value cannot be encoded.
    public func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let memcachedKey = try makeKey(key)
        let bytes = try PersistJSON.encode(value)
        if let expires {
            try await client.set(memcachedKey, value: bytes, expiration: expiration(expires))
            return
        }
        // Keep the current expiration: read it, then write only if nobody wrote in between
        // (compare-and-swap), so a concurrent writer's new expiration is never replaced by a stale one.
        var expiration = MemcachedExpiration.never
        for _ in 0..<Self.keepExpirationAttempts {
            guard let current = try await client.get(memcachedKey) else {
                if try await client.add(memcachedKey, value: bytes, expiration: .never) { return }
                continue  // created meanwhile: read its expiration
            }
            expiration = Self.remaining(current.timeToLive)
            if case .stored = try await client.store(memcachedKey, value: bytes, expiration: expiration, cas: current.cas) { return }
        }
        // Still contended: the last writer wins, as with any set.
        try await client.set(memcachedKey, value: bytes, expiration: expiration)
    }

    /// The value stored under `key`, decoded as `Object`; `nil` when there is none (or it expired).
    ///
    /// - Throws: `PersistError.invalidConversion` when the stored value does not decode as
    ///   `Object`; `MemcachedError` for an invalid key or a memcached failure.
    public func get<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> Object? {
        guard let item = try await client.get(makeKey(key)) else { return nil }
        return try PersistJSON.decode(item.value, as: type)
    }

    /// The value stored under `key` with the time it has left; `nil` when there is none.
    ///
    /// The time to live is memcached's, in whole seconds rounded down, and `nil` for a value that
    /// never expires.
    /// - Throws: `PersistError.invalidConversion` when the stored value does not decode as
    ///   `Object`; `MemcachedError` for an invalid key or a memcached failure.
    public func getWithTTL<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> (object: Object, ttl: Duration?)? {
        guard let item = try await client.get(makeKey(key)) else { return nil }
        return (try PersistJSON.decode(item.value, as: type), item.timeToLive)
    }

    /// Removes the value stored under `key`; nothing happens when there is none.
    ///
    /// - Throws: `MemcachedError` for an invalid key or a memcached failure.
    public func remove(key: String) async throws {
        try await client.delete(makeKey(key))
    }

    /// Does nothing: the `MemcachedClient` belongs to its owner, who runs it as a service or
    /// shuts it down, and may share it with other users.
    public func shutdown() async throws {}

    /// Waits for graceful shutdown (or cancellation), then returns. The driver holds no resources
    /// of its own: the `MemcachedClient` is a separate service.
    public func run() async throws {
        try? await gracefulShutdown()
    }

    // MARK: Helpers

    private func makeKey(_ key: String) throws(MemcachedError) -> MemcachedKey {
        do {
            return try MemcachedKey(keyPrefix + key)
        } catch {
            // The key itself is left out: it may be a secret such as a session id.
            throw MemcachedError(
                .invalidKey,
                "the persist key (\(key.utf8.count) bytes, after the prefix \"\(keyPrefix)\") does not make a valid memcached key: \(error.message)"
            )
        }
    }

    private static func validate(keyPrefix: String) throws(MemcachedError) {
        guard !keyPrefix.isEmpty else { return }
        do {
            _ = try MemcachedKey(keyPrefix)
        } catch {
            throw MemcachedError(.invalidKey, "the key prefix \(keyPrefix.debugDescription) cannot start a memcached key: \(error.message)")
        }
        guard keyPrefix.utf8.count < MemcachedKey.maximumLength else {
            throw MemcachedError(
                .invalidKey,
                "the key prefix is \(keyPrefix.utf8.count) bytes long, leaving no room for a key within memcached's \(MemcachedKey.maximumLength)"
            )
        }
    }

    /// Read-then-compare-and-swap rounds tried by `set(expires: nil)` before it simply overwrites.
    private static let keepExpirationAttempts = 3

    /// An item's remaining time as an expiration. memcached reports whole seconds, rounded down:
    /// 0 means under a second left, kept as one second rather than expiring the new value at once.
    private static func remaining(_ timeToLive: Duration?) -> MemcachedExpiration {
        guard let timeToLive else { return .never }
        return .seconds(max(1, Int(timeToLive.components.seconds)))
    }

    private func expiration(_ expires: Duration?) -> MemcachedExpiration {
        expires.map { MemcachedExpiration.after($0) } ?? .never
    }
}
