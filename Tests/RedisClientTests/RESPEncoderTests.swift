import NIOCore
import Testing

@testable import RedisClient

@Suite struct RESPEncoderTests {
    private func encoded(_ command: RESPCommand) -> String {
        var buffer = ByteBuffer()
        RESPEncoder.encodeCommand(command, into: &buffer)
        return String(buffer: buffer)
    }

    @Test func commandIsAnArrayOfBulkStrings() {
        #expect(encoded(RESPCommand("PING")) == "*1\r\n$4\r\nPING\r\n")
        #expect(encoded(RESPCommand("ECHO", "héllo")) == "*2\r\n$4\r\nECHO\r\n$6\r\nhéllo\r\n")
        #expect(
            encoded(RESPCommand("SET", "k", ByteBuffer(string: "v"), 42, Int64(-7), RESPArgument("x"), Substring("sub")))
                == "*7\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\n42\r\n$2\r\n-7\r\n$1\r\nx\r\n$3\r\nsub\r\n"
        )
        #expect(encoded(RESPCommand("GET", arguments: [""])) == "*2\r\n$3\r\nGET\r\n$0\r\n\r\n")
    }

    @Test func argumentsAreBinarySafe() throws {
        let key = ByteBuffer(bytes: [0x00, 0x0D, 0x0A, 0xFF, 0x20])
        var expected = ByteBuffer(string: "*2\r\n$3\r\nGET\r\n$5\r\n")
        expected.writeBytes([0x00, 0x0D, 0x0A, 0xFF, 0x20])
        expected.writeString("\r\n")
        var buffer = ByteBuffer()
        RESPEncoder.encodeCommand(try .get(key), into: &buffer)
        #expect(buffer == expected)
    }

    @Test func encodingKeepsTheCallersBufferIntact() throws {
        let value = ByteBuffer(string: "payload")
        var buffer = ByteBuffer()
        RESPEncoder.encodeCommand(try .set("k", value), into: &buffer)
        #expect(value.readableBytes == 7)
        #expect(value == ByteBuffer(string: "payload"))
    }

    @Test func pipelinedCommandsAreCoalescedInOrder() throws {
        var buffer = ByteBuffer()
        RESPEncoder.encodeCommand(.ping(), into: &buffer)
        RESPEncoder.encodeCommand(try .get("a"), into: &buffer)
        #expect(String(buffer: buffer) == "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
    }

    @Test func get() throws {
        #expect(encoded(try .get("session:1")) == "*2\r\n$3\r\nGET\r\n$9\r\nsession:1\r\n")
    }

    @Test func set() throws {
        let value = ByteBuffer(string: "a\r\nb")
        #expect(encoded(try .set("k", value)) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n")
        #expect(
            encoded(try .set("k", value, expiration: .milliseconds(1500)))
                == "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n$2\r\nPX\r\n$4\r\n1500\r\n"
        )
        #expect(
            encoded(try .set("lock", "owner", expiration: .milliseconds(30000), condition: .ifNotExists))
                == "*6\r\n$3\r\nSET\r\n$4\r\nlock\r\n$5\r\nowner\r\n$2\r\nPX\r\n$5\r\n30000\r\n$2\r\nNX\r\n"
        )
        #expect(
            encoded(try .set("k", "v", expiration: .keepTTL, condition: .ifExists))
                == "*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nXX\r\n$7\r\nKEEPTTL\r\n"
        )
        #expect(encoded(try .set("k", "v", condition: .ifNotExists)) == "*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n$2\r\nNX\r\n")
    }

    @Test(arguments: [0, -1, Int64.min])
    func setRefusesANonPositiveExpiration(milliseconds: Int64) {
        #expect(throws: RESPCommandError.self) { try RESPCommand.set("k", "v", expiration: .milliseconds(milliseconds)) }
    }

    @Test func del() throws {
        #expect(encoded(try .del("a")) == "*2\r\n$3\r\nDEL\r\n$1\r\na\r\n")
        #expect(encoded(try .del("a", ByteBuffer(string: "b"))) == "*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nb\r\n")
        #expect(throws: RESPCommandError.self) { try RESPCommand.del() }
    }

    @Test func pexpireAndPttl() throws {
        #expect(encoded(try .pexpire("k", milliseconds: 60000)) == "*3\r\n$7\r\nPEXPIRE\r\n$1\r\nk\r\n$5\r\n60000\r\n")
        #expect(encoded(try .pexpire("k", milliseconds: -1)) == "*3\r\n$7\r\nPEXPIRE\r\n$1\r\nk\r\n$2\r\n-1\r\n")
        #expect(encoded(try .pttl("k")) == "*2\r\n$4\r\nPTTL\r\n$1\r\nk\r\n")
    }

    @Test func ping() {
        #expect(encoded(.ping()) == "*1\r\n$4\r\nPING\r\n")
        #expect(encoded(.ping("hi")) == "*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n")
    }

    @Test func auth() {
        #expect(encoded(.auth(password: "s3cret")) == "*2\r\n$4\r\nAUTH\r\n$6\r\ns3cret\r\n")
        #expect(encoded(.auth(username: "app", password: "s3cret")) == "*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$6\r\ns3cret\r\n")
    }

    @Test func select() throws {
        #expect(encoded(try .select(database: 0)) == "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
        #expect(encoded(try .select(database: 15)) == "*2\r\n$6\r\nSELECT\r\n$2\r\n15\r\n")
        #expect(throws: RESPCommandError.self) { try RESPCommand.select(database: -1) }
    }

    @Test func hello() throws {
        #expect(encoded(try .hello()) == "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
        #expect(encoded(try .hello(protocolVersion: 2)) == "*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n")
        #expect(
            encoded(try .hello(username: "app", password: "pw"))
                == "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n"
        )
        #expect(
            encoded(try .hello(password: "pw"))
                == "*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$2\r\npw\r\n"
        )
        #expect(throws: RESPCommandError.self) { try RESPCommand.hello(protocolVersion: 4) }
        #expect(throws: RESPCommandError.self) { try RESPCommand.hello(username: "app") }
    }

    @Test func evalAndEvalsha() throws {
        let script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end"
        #expect(
            encoded(try .eval(script, keys: ["lock"], arguments: ["owner"]))
                == "*5\r\n$4\r\nEVAL\r\n$\(script.utf8.count)\r\n\(script)\r\n$1\r\n1\r\n$4\r\nlock\r\n$5\r\nowner\r\n"
        )
        let sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        #expect(
            encoded(try .evalsha(sha, keys: ["a", ByteBuffer(string: "b")], arguments: [7, "x"]))
                == "*7\r\n$7\r\nEVALSHA\r\n$40\r\n\(sha)\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\n7\r\n$1\r\nx\r\n"
        )
        #expect(encoded(try .evalsha(sha)) == "*3\r\n$7\r\nEVALSHA\r\n$40\r\n\(sha)\r\n$1\r\n0\r\n")
    }

    @Test func keysAndValuesAreLimitedTo512MiB() throws {
        #expect(RESPCommand.maximumKeyOrValueLength == 536_870_912)
        try RESPCommand.checkLength(536_870_912, of: "key")
        #expect(throws: RESPCommandError.self) { try RESPCommand.checkLength(536_870_913, of: "key") }
    }

    @Test func argumentByteCounts() {
        #expect(RESPArgument("héllo").byteCount == 6)
        #expect(RESPArgument(ByteBuffer(string: "abc")).byteCount == 3)
        #expect(RESPArgument(Int64.min).byteCount == 20)
        #expect(RESPArgument(0).byteCount == 1)
    }

    @Test func descriptionNeverShowsArguments() throws {
        let auth = RESPCommand.auth(username: "app", password: "s3cret")
        #expect(auth.description == "AUTH (2 arguments)")
        #expect(!"\(auth)".contains("s3cret"))
        #expect(!String(reflecting: try RESPCommand.hello(password: "s3cret")).contains("s3cret"))
        #expect(RESPCommand.ping().description == "PING")
        #expect(try RESPCommand.get("k").description == "GET (1 argument)")
    }
}
