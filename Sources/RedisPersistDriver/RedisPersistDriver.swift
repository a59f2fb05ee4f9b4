import Hummingbird
import NIOCore
import PersistDriverSupport
import RedisClient
import ServiceLifecycle

/// A Hummingbird `PersistDriver` that keeps its key/value pairs in one Redis server (database).
///
/// The Redis twin of `MemcachedPersistDriver`: hand it to hummingbird-auth's `SessionMiddleware`
/// (or anything built on the persist framework) and values survive restarts and are shared by
/// every app server.
///
/// ```swift
/// let client = try RedisClient(server: RedisServer(url: "redis://:secret@127.0.0.1:6379/1"))
/// let router = Router(context: BasicSessionRequestContext<UUID, User>.self)
/// router.add(middleware: SessionMiddleware(storage: try RedisPersistDriver(client: client)))
/// var app = Application(router: router)
/// app.addServices(client)   // the client is a Service: it closes its connections on shutdown
/// ```
///
/// Semantics, matching Hummingbird's `MemoryPersistDriver`:
/// - Values are stored as JSON; one that does not decode as the requested type throws
///   `PersistError.invalidConversion`.
/// - Expirations are exact to the millisecond (Redis `PX`); a zero or negative expiration makes
///   the value expire at once. `set` without an expiration keeps the key's current one
///   (`KEEPTTL`, atomic: no read-modify-write race as on memcached).
/// - Keys are ``keyPrefix`` followed by the caller's key. Redis keys are binary-safe, so any
///   string works; keys are never rewritten.
/// - Failures of Redis itself (server down, timeout, refused credentials) are thrown as `RedisError`.
public struct RedisPersistDriver: PersistDriver {
    /// The default ``keyPrefix``.
    public static let defaultKeyPrefix = "hb:"

    /// The Redis server holding the values.
    public let client: RedisClient
    /// Put in front of every key, so that these values do not collide with other users of the server.
    public let keyPrefix: String

    /// Creates a driver over one Redis server (and database).
    ///
    /// - Parameters:
    ///   - client: the server's client; run it as a service (or shut it down yourself) for as long
    ///     as the driver is used.
    ///   - keyPrefix: put in front of every key; may be empty.
    public init(client: RedisClient, keyPrefix: String = RedisPersistDriver.defaultKeyPrefix) {
        self.client = client
        self.keyPrefix = keyPrefix
    }

    // MARK: PersistDriver

    /// Stores `value` under `key` only if the key holds nothing yet (`SET NX`).
    ///
    /// - Throws: `PersistError.duplicate` when the key exists; `RedisError` for a Redis failure;
    ///   the encoder's error when the value cannot be encoded.
    public func create<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let bytes = try PersistJSON.encode(value)
        if let expires, expires <= .zero {
            // Expired at once: nothing to keep, but a live value under the key is still a duplicate.
            if try await client.get(keyPrefix + key) != nil { throw PersistError.duplicate }
            return
        }
        guard try await client.set(keyPrefix + key, value: bytes, expiration: expires, condition: .ifNotExists) else {
            throw PersistError.duplicate
        }
    }

    /// Stores `value` under `key`, replacing any value there. With `expires: nil` an existing
    /// value's expiration is kept (`KEEPTTL`); a new value then never expires.
    ///
    /// - Throws: `RedisError` for a Redis failure; the encoder's error when the value cannot be encoded.
    public func set<Object: Codable & Sendable>(key: String, value: Object, expires: Duration?) async throws {
        let bytes = try PersistJSON.encode(value)
        switch expires {
        case .some(let duration) where duration <= .zero:
            try await client.delete(keyPrefix + key)
        case .some(let duration):
            try await client.set(keyPrefix + key, value: bytes, expiration: duration)
        case .none:
            try await client.setKeepingTimeToLive(keyPrefix + key, value: bytes)
        }
    }

    /// The value stored under `key`, decoded as `Object`; `nil` when there is none (or it expired).
    ///
    /// - Throws: `PersistError.invalidConversion` when the stored value does not decode as
    ///   `Object`; `RedisError` for a Redis failure.
    public func get<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> Object? {
        guard let value = try await client.get(keyPrefix + key) else { return nil }
        return try PersistJSON.decode(value, as: type)
    }

    /// The value stored under `key` with the time it has left (`nil`: never expires), read
    /// atomically in one round trip; `nil` when there is no value.
    ///
    /// - Throws: `PersistError.invalidConversion` when the stored value does not decode as
    ///   `Object`; `RedisError` for a Redis failure.
    public func getWithTTL<Object: Codable & Sendable>(key: String, as type: Object.Type) async throws -> (object: Object, ttl: Duration?)? {
        let reply = try await client.evaluate(Self.valueAndTimeToLive, keys: [keyPrefix + key])
        switch reply {
        case .array(let elements?) where elements.count == 2:
            guard case .bulkString(let value?) = elements[0] else { return nil }
            guard case .integer(let milliseconds) = elements[1] else { break }
            return (try PersistJSON.decode(value, as: type), milliseconds >= 0 ? .milliseconds(milliseconds) : nil)
        case .null, .array(nil):
            return nil
        default:
            break
        }
        throw RedisError(.protocolError, "unexpected reply \(reply) to the GET+PTTL script", node: client.server.description)
    }

    /// Removes the value stored under `key`; nothing happens when there is none.
    ///
    /// - Throws: `RedisError` for a Redis failure.
    public func remove(key: String) async throws {
        try await client.delete(keyPrefix + key)
    }

    /// Does nothing: the `RedisClient` belongs to its owner, who runs it as a service or shuts it
    /// down, and may share it with other users.
    public func shutdown() async throws {}

    /// Waits for graceful shutdown (or cancellation), then returns. The driver holds no resources
    /// of its own: the `RedisClient` is a separate service.
    public func run() async throws {
        try? await gracefulShutdown()
    }

    /// `GET` and `PTTL` of one key, atomically: a missing key is `{false, -2}` (Lua's false
    /// becomes a null bulk string).
    private static let valueAndTimeToLive = RedisScript(
        """
        return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}
        """)
}
