import NIOCore

/// One reply as read off the wire, before it is matched to its request.
struct MemcachedResponse: Sendable, Equatable {
    enum Status: Sendable, Equatable {
        /// `HD`: success without a value.
        case stored
        /// `VA`: success with a value.
        case value
        /// `EN`: `mg` miss.
        case miss
        /// `NF`: not found (`md`, `ma`, `ms` with CAS).
        case notFound
        /// `NS`: not stored (add on an existing key, replace on a missing one).
        case notStored
        /// `EX`: CAS mismatch.
        case exists
        /// `MN`: the answer to `mn`.
        case noop
        /// `STORED`: the classic protocol's success, here only the answer to the login.
        case authenticated
        /// `CLIENT_ERROR unauthenticated`: the server runs with `-Y` and this connection has not
        /// logged in (the handshake's probe asks exactly this).
        case unauthenticated
        /// `VERSION <text>`.
        case version(String)
        /// `ERROR`: the server did not know the command.
        case error
        /// `CLIENT_ERROR <message>`.
        case clientError(String)
        /// `SERVER_ERROR <message>`.
        case serverError(String)
    }

    var status: Status
    var value: ByteBuffer?
    /// `c` return flag.
    var cas: UInt64?
    /// `f` return flag.
    var clientFlags: UInt32?
    /// `t` return flag: seconds left, `-1` for never.
    var timeToLive: Int64?
    /// `O` return flag.
    var opaque: UInt32?

    init(status: Status, value: ByteBuffer? = nil, cas: UInt64? = nil, clientFlags: UInt32? = nil, timeToLive: Int64? = nil, opaque: UInt32? = nil) {
        self.status = status
        self.value = value
        self.cas = cas
        self.clientFlags = clientFlags
        self.timeToLive = timeToLive
        self.opaque = opaque
    }
}
