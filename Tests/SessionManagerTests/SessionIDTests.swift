import ServerTestSupport
import Testing

@testable import SessionManager

/// A valid 32-digit upper-case hex random part.
private let hex32 = "602F7397FBE4D9932E59A9D0E52FE178"

/// Returns the same word forever, so a generated id is known in advance.
private struct ConstantGenerator: RandomNumberGenerator {
    var value: UInt64
    mutating func next() -> UInt64 { value }
}

private func isUpperHex(_ value: String) -> Bool {
    value.utf8.allSatisfy { (48...57).contains($0) || (65...70).contains($0) }
}

@Suite struct SessionIDTests {
    // MARK: Generation

    @Test(arguments: [nil, "m1"] as [String?], [nil, "A"] as [String?])
    func generatedIDRoundTripsThroughParsing(nodeID: String?, route: String?) throws {
        let id = SessionID.generate(nodeID: nodeID, route: route)
        #expect(id.random.count == 2 * SessionID.randomByteCount)
        #expect(id.random.count == 32)
        #expect(isUpperHex(id.random))
        #expect(id.nodeID == nodeID)
        #expect(id.route == route)

        var expected = id.random
        if let nodeID { expected += "-" + nodeID }
        if let route { expected += "." + route }
        #expect(id.description == expected)

        let parsed = try #require(SessionID(parsing: id.description))
        #expect(parsed == id)
        #expect(parsed.random == id.random)
        #expect(parsed.nodeID == nodeID)
        #expect(parsed.route == route)
    }

    @Test func generatedIDsAreDistinct() {
        let ids = (0..<1000).map { _ in SessionID.generate(nodeID: "m1", route: nil).random }
        #expect(Set(ids).count == 1000)
    }

    @Test func deterministicGeneratorGivesDeterministicID() {
        var constant = ConstantGenerator(value: 0x0123_4567_89AB_CDEF)
        let fixed = SessionID.generate(nodeID: "m2", route: "A", using: &constant)
        #expect(fixed.description == "0123456789ABCDEF0123456789ABCDEF-m2.A")

        var first = SplitMix64(seed: 42)
        var second = SplitMix64(seed: 42)
        let a = SessionID.generate(nodeID: "m1", route: nil, using: &first)
        let b = SessionID.generate(nodeID: "m1", route: nil, using: &second)
        #expect(a == b)
        // The generator advances: the next id from the same generator differs.
        let c = SessionID.generate(nodeID: "m1", route: nil, using: &first)
        #expect(c != a)

        var other = SplitMix64(seed: 43)
        #expect(SessionID.generate(nodeID: "m1", route: nil, using: &other) != a)
    }

    // MARK: Derived ids

    @Test func relocatedKeepsRandomAndRoute() throws {
        let id = try #require(SessionID(parsing: "\(hex32)-m1.A"))
        let moved = id.relocated(to: "m2")
        #expect(moved.random == hex32)
        #expect(moved.nodeID == "m2")
        #expect(moved.route == "A")
        #expect(moved.description == "\(hex32)-m2.A")
        #expect(id.relocated(to: nil).description == "\(hex32).A")
    }

    @Test func routedKeepsRandomAndNode() throws {
        let id = try #require(SessionID(parsing: "\(hex32)-m1.A"))
        let taken = id.routed(to: "B-2")
        #expect(taken.random == hex32)
        #expect(taken.nodeID == "m1")
        #expect(taken.route == "B-2")
        #expect(taken.description == "\(hex32)-m1.B-2")
        #expect(id.routed(to: nil).description == "\(hex32)-m1")
    }

    @Test func storageKeyExcludesRoute() throws {
        let routed = try #require(SessionID(parsing: "\(hex32)-m1.A"))
        #expect(routed.storageKey == "\(hex32)-m1")
        #expect(routed.routed(to: "B").storageKey == routed.storageKey)
        #expect(routed.relocated(to: "m2").storageKey == "\(hex32)-m2")

        let bare = try #require(SessionID(parsing: "\(hex32).A"))
        #expect(bare.storageKey == hex32)
        #expect(bare.nodeID == nil)
    }

    // MARK: Strict parsing

    @Test(arguments: [
        "\(hex32)-m1.jvm-1",  // msm lets a route contain '-'
        "\(hex32)-m1.A",
        "\(hex32)-m_1",
        "\(hex32).A",
        hex32,
        hex32 + hex32,  // 64 hex digits: the longest random accepted
        "\(hex32)-\(String(repeating: "n", count: 64)).\(String(repeating: "r", count: 64))",
    ])
    func acceptsValidIDs(value: String) throws {
        let id = try #require(SessionID(parsing: value))
        #expect(id.description == value)
    }

    @Test func routeWithDashIsParsedAsRoute() throws {
        let id = try #require(SessionID(parsing: "\(hex32)-m1.jvm-1-x"))
        #expect(id.nodeID == "m1")
        #expect(id.route == "jvm-1-x")
    }

    @Test(arguments: [
        hex32.lowercased(),  // lower-case hex: never issued by us
        "\(hex32.lowercased())-m1",
        String(hex32.dropLast()),  // 31 hex digits
        hex32 + hex32 + "A",  // 65 hex digits
        String(repeating: "G", count: 32),  // not hex
        "../../etc",
        "\(hex32)/../../etc",
        "X-m1 flush_all",
        "\(hex32)-m1 flush_all",
        "\(hex32)\r\nset",
        "\(hex32)-m1\r\nset x 0 0 1",
        "\(hex32)\nset",
        "\(hex32)-m1.A.B",
        "\(hex32)-m-1",
        "",
        "-",
        ".",
        "-.",
        "\(hex32)-",
        "-m1",
        "-m1.A",
        "X.",
        "\(hex32).",
        "\(hex32)-m1.",
        "\(hex32)-.A",
        "\(hex32)..A",
        "\(hex32)-m1é",
        "\(hex32)-m1.Ä",
        "\(hex32)\u{0301}",  // combining mark
        "602F7397FBE4D9932E59A9D0E52FE17８",  // full-width digit
        String(repeating: "A", count: 300),
        "\(hex32)-\(String(repeating: "n", count: 65))",
        "\(hex32)-m1.\(String(repeating: "r", count: 65))",
        "\(hex32);m1",
        "\(hex32)-m1;Path=/",
        "\(hex32)-m1.A;",
        "\(hex32),\(hex32)",
        "\(hex32)=",
        " \(hex32)",
        "\(hex32) ",
        "\(hex32)\t",
        "\(hex32)\0",
        "\(hex32)-m1.A\u{7F}",
    ])
    func rejectsForgedValues(value: String) {
        #expect(SessionID(parsing: value) == nil)
    }

    @Test func nodeIDAndRouteValidators() {
        #expect(SessionID.isValidNodeID("m1"))
        #expect(SessionID.isValidNodeID("Node_2"))
        #expect(SessionID.isValidNodeID(String(repeating: "n", count: 64)))
        #expect(!SessionID.isValidNodeID(String(repeating: "n", count: 65)))
        #expect(!SessionID.isValidNodeID(""))
        #expect(!SessionID.isValidNodeID("m-1"))
        #expect(!SessionID.isValidNodeID("m.1"))
        #expect(!SessionID.isValidNodeID("m 1"))
        #expect(!SessionID.isValidNodeID("mé"))

        #expect(SessionID.isValidRoute("jvm-1"))
        #expect(SessionID.isValidRoute("A"))
        #expect(SessionID.isValidRoute(String(repeating: "r", count: 64)))
        #expect(!SessionID.isValidRoute(String(repeating: "r", count: 65)))
        #expect(!SessionID.isValidRoute(""))
        #expect(!SessionID.isValidRoute("A.B"))
        #expect(!SessionID.isValidRoute("A;B"))
        #expect(!SessionID.isValidRoute("A\r\n"))
    }

    // MARK: msm's vectors

    @Test func msmComponentsWithNodeAndRoute() throws {
        let parts = try #require(SessionIDComponents(parsing: "foo-n.jvm1"))
        #expect(parts.random == "foo")
        #expect(parts.nodeID == "n")
        #expect(parts.route == "jvm1")
    }

    @Test func msmComponentsWithoutNodeBeforeRoute() throws {
        // msm: isValid("foo.jvm1-n") == false, because a '-' after the '.' belongs to the route.
        let parts = try #require(SessionIDComponents(parsing: "foo.jvm1-n"))
        #expect(parts.random == "foo")
        #expect(parts.nodeID == nil)
        #expect(parts.route == "jvm1-n")

        // msm: extractMemcachedId("foo.j-v-m1") == null.
        let other = try #require(SessionIDComponents(parsing: "foo.j-v-m1"))
        #expect(other.nodeID == nil)
        #expect(other.route == "j-v-m1")

        // The strict parser agrees: no node id, so a manager whose nodes have ids rejects it.
        let strict = try #require(SessionID(parsing: "\(hex32).jvm1-n"))
        #expect(strict.nodeID == nil)
        #expect(strict.route == "jvm1-n")
    }

    @Test(arguments: ["", "-", ".", "-n", "foo-", "foo.", "foo-.jvm1", ".jvm1"])
    func msmComponentsRejectEmptyParts(value: String) {
        #expect(SessionIDComponents(parsing: value) == nil)
    }

    @Test func msmCreateSessionIDMapsToRelocated() throws {
        // msm: createSessionId("foo.jvm1", "n") == "foo-n.jvm1"
        let withoutNode = try #require(SessionID(parsing: "\(hex32).jvm1"))
        #expect(withoutNode.relocated(to: "n").description == "\(hex32)-n.jvm1")

        // msm: createNewSessionId("foo-n.jvm1", "m") == "foo-m.jvm1"
        let withNode = try #require(SessionID(parsing: "\(hex32)-n.jvm1"))
        #expect(withNode.relocated(to: "m").description == "\(hex32)-m.jvm1")
    }
}
