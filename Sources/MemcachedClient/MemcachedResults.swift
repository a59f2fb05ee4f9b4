import NIOCore

/// An item read from memcached.
public struct MemcachedItem: Sendable, Equatable {
    /// The stored bytes.
    public var value: ByteBuffer
    /// The client flags stored with it (opaque to memcached; transcoders use them for a format tag).
    public var flags: UInt32
    /// The compare-and-swap token: pass it to a store to write only if nobody wrote in between.
    public var cas: UInt64
    /// Time left before expiry as memcached reports it; `nil` when the item never expires.
    public var timeToLive: Duration?

    /// Creates an item; normally the client does this.
    public init(value: ByteBuffer, flags: UInt32 = 0, cas: UInt64 = 0, timeToLive: Duration? = nil) {
        self.value = value
        self.flags = flags
        self.cas = cas
        self.timeToLive = timeToLive
    }
}

/// The outcome of a store, each a normal answer rather than an error.
public enum MemcachedStoreResult: Sendable, Hashable {
    /// Written; `cas` is the item's new compare-and-swap token.
    case stored(cas: UInt64)
    /// The mode's condition failed: `add` on an existing key, `replace`/`append` on a missing one.
    case notStored
    /// A compare-and-swap lost: someone else wrote the item since it was read.
    case exists
    /// A compare-and-swap on an item that no longer exists.
    case notFound
}

/// The outcome of a delete.
public enum MemcachedDeleteResult: Sendable, Hashable {
    /// The item was removed.
    case deleted
    /// There was no such item.
    case notFound
    /// A compare-and-swap delete lost: the item changed since it was read.
    case exists
}
