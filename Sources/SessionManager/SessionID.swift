/// A session id in msm's format: `<random>-<nodeID>[.<route>]`, e.g. `602F7397FBE4D9932E59A9D0E52FE178-m2.A`.
///
/// The node id tells every app server which store node holds the session, and the route tells
/// a sticky load balancer which app server served it last. Parsing is strict because the value
/// arrives in a cookie chosen by the client and ends up in store keys and `Set-Cookie` headers.
public struct SessionID: Sendable, Hashable, CustomStringConvertible {
    /// Bytes of randomness in a generated id: 128 bits, so ids cannot be guessed.
    public static let randomByteCount = 16

    /// The unguessable part, upper-case hex: exactly 32 characters when generated, 32...64 when parsed.
    public let random: String

    /// The store node holding the session; `nil` when the node list is a single node without id.
    public let nodeID: String?

    /// msm's `jvmRoute`: the app server that last served the session, for sticky load balancers.
    public let route: String?

    /// The longest cookie value accepted, so a hostile cookie cannot cost more than a bounded scan.
    static let maxLength = 256

    /// Shortest and longest accepted `random` part: at least our own 128 bits, at most 256 bits.
    static let randomLengths = (2 * randomByteCount)...64

    /// Longest node id or route, keeping store keys well under memcached's 250-byte key limit.
    static let maxComponentLength = 64

    private init(uncheckedRandom random: String, nodeID: String?, route: String?) {
        self.random = random
        self.nodeID = nodeID
        self.route = route
    }

    /// Reads a cookie value strictly; returns `nil` (never traps) for anything we would not have issued.
    ///
    /// Rules: at most 256 ASCII bytes; the first `.` starts the route, the first `-` before it starts
    /// the node id; `random` is 32...64 upper-case hex digits; no part may be empty. Whitespace,
    /// control characters, `;`, `,`, `=` and non-ASCII are rejected, so an id can never inject
    /// into a memcached command line or a header.
    public init?(parsing value: String) {
        let bytes = Array(value.utf8)
        guard !bytes.isEmpty, bytes.count <= Self.maxLength else { return nil }
        guard bytes.allSatisfy({ $0 < 0x80 }) else { return nil }

        let left: ArraySlice<UInt8>
        var route: String?
        if let dot = bytes.firstIndex(of: UInt8(ascii: ".")) {
            left = bytes[..<dot]
            let routeBytes = bytes[(dot + 1)...]
            // A second '.' is rejected here too: route bytes never include '.'.
            guard Self.isValidRoute(routeBytes) else { return nil }
            route = String(decoding: routeBytes, as: UTF8.self)
        } else {
            left = bytes[...]
        }

        let randomBytes: ArraySlice<UInt8>
        var nodeID: String?
        if let dash = left.firstIndex(of: UInt8(ascii: "-")) {
            randomBytes = left[..<dash]
            let nodeBytes = left[(dash + 1)...]
            guard Self.isValidNodeID(nodeBytes) else { return nil }
            nodeID = String(decoding: nodeBytes, as: UTF8.self)
        } else {
            randomBytes = left
        }

        guard Self.randomLengths.contains(randomBytes.count),
            randomBytes.allSatisfy(Self.isUpperHexDigit)
        else { return nil }

        self.init(
            uncheckedRandom: String(decoding: randomBytes, as: UTF8.self),
            nodeID: nodeID,
            route: route
        )
    }

    /// A fresh id with 128 bits from the system CSPRNG (`getrandom` on Linux), so ids cannot be predicted.
    ///
    /// - Precondition: `nodeID` and `route`, when given, are valid (see ``isValidNodeID(_:)`` and
    ///   ``isValidRoute(_:)``); an invalid one would yield an id that does not parse back.
    public static func generate(nodeID: String?, route: String?) -> SessionID {
        var generator = SystemRandomNumberGenerator()
        return generate(nodeID: nodeID, route: route, using: &generator)
    }

    /// A fresh id from the given generator, so tests can get deterministic ids.
    ///
    /// - Precondition: `nodeID` and `route`, when given, are valid.
    public static func generate<G: RandomNumberGenerator>(
        nodeID: String?,
        route: String?,
        using generator: inout G
    ) -> SessionID {
        precondition(nodeID.map(isValidNodeID) ?? true, "invalid session node id")
        precondition(route.map(isValidRoute) ?? true, "invalid session route")
        var hex: [UInt8] = []
        hex.reserveCapacity(2 * randomByteCount)
        var remaining = randomByteCount
        while remaining > 0 {
            var word = generator.next()  // UInt64: 8 random bytes, written most significant first
            for _ in 0..<min(8, remaining) {
                let byte = UInt8(truncatingIfNeeded: word >> 56)
                hex.append(hexDigits[Int(byte >> 4)])
                hex.append(hexDigits[Int(byte & 0x0F)])
                word <<= 8
            }
            remaining -= 8
        }
        return SessionID(uncheckedRandom: String(decoding: hex, as: UTF8.self), nodeID: nodeID, route: route)
    }

    /// The same session on another store node (msm's failover/relocation), keeping random and route.
    ///
    /// - Precondition: `nodeID`, when given, is valid.
    public func relocated(to nodeID: String?) -> SessionID {
        precondition(nodeID.map(Self.isValidNodeID) ?? true, "invalid session node id")
        return SessionID(uncheckedRandom: random, nodeID: nodeID, route: route)
    }

    /// The same session taken over by another app server, keeping random and node.
    ///
    /// - Precondition: `route`, when given, is valid.
    public func routed(to route: String?) -> SessionID {
        precondition(route.map(Self.isValidRoute) ?? true, "invalid session route")
        return SessionID(uncheckedRandom: random, nodeID: nodeID, route: route)
    }

    /// The store key, `<random>-<nodeID>` or `<random>`; the route is left out so that a takeover
    /// by another app server needs no re-keying.
    public var storageKey: String {
        guard let nodeID else { return random }
        return random + "-" + nodeID
    }

    /// The cookie value, `<random>[-<nodeID>][.<route>]`, which ``init(parsing:)`` reads back.
    public var description: String {
        var value = storageKey
        if let route {
            value += "." + route
        }
        return value
    }

    /// Whether `id` may be a node id: `[A-Za-z0-9_]{1,64}`, so it never contains the `-`/`.` separators.
    public static func isValidNodeID(_ id: String) -> Bool {
        isValidNodeID(id.utf8)
    }

    /// Whether `route` may be a route: `[A-Za-z0-9_-]{1,64}`; `-` is allowed because msm allows it.
    public static func isValidRoute(_ route: String) -> Bool {
        isValidRoute(route.utf8)
    }

    private static func isValidNodeID<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        (1...maxComponentLength).contains(bytes.count) && bytes.allSatisfy(isWordByte)
    }

    private static func isValidRoute<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        (1...maxComponentLength).contains(bytes.count)
            && bytes.allSatisfy { isWordByte($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "_"):
            return true
        default:
            return false
        }
    }

    private static func isUpperHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "F"):
            return true
        default:
            return false
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
}

/// msm's structural reading of an id, used only for msm's own test vectors and diagnostics.
///
/// Unlike ``SessionID/init(parsing:)`` it checks no character set or length, so it must never
/// decide which session a request gets.
public struct SessionIDComponents: Sendable, Hashable {
    /// Everything before the first `-` or `.`.
    public var random: String

    /// After the first `-` up to the first `.`; `nil` when there is no `-` before the first `.`.
    public var nodeID: String?

    /// After the first `.`, possibly containing `-` (msm's jvmRoute); `nil` without a `.`.
    public var route: String?

    /// Splits `value` by msm's rule; `nil` when a present part is empty.
    ///
    /// `foo-n.jvm1` reads as (`foo`, `n`, `jvm1`); `foo.jvm1-n` reads as (`foo`, nil, `jvm1-n`),
    /// which a manager whose nodes have ids rejects for lack of a node id (msm's `isValid` is false).
    public init?(parsing value: String) {
        // Split on bytes: '.' and '-' are ASCII, so every cut falls on a UTF-8 boundary.
        let bytes = Array(value.utf8)
        let left: ArraySlice<UInt8>
        if let dot = bytes.firstIndex(of: UInt8(ascii: ".")) {
            left = bytes[..<dot]
            let route = bytes[(dot + 1)...]
            guard !route.isEmpty else { return nil }
            self.route = String(decoding: route, as: UTF8.self)
        } else {
            left = bytes[...]
            self.route = nil
        }
        let randomBytes: ArraySlice<UInt8>
        if let dash = left.firstIndex(of: UInt8(ascii: "-")) {
            let node = left[(dash + 1)...]
            guard !node.isEmpty else { return nil }
            self.nodeID = String(decoding: node, as: UTF8.self)
            randomBytes = left[..<dash]
        } else {
            self.nodeID = nil
            randomBytes = left
        }
        guard !randomBytes.isEmpty else { return nil }
        self.random = String(decoding: randomBytes, as: UTF8.self)
    }
}
