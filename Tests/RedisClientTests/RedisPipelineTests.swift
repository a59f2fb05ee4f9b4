import NIOCore
import PipelinedConnections
import Testing

@testable import RedisClient

/// RESP's pairing rules on the shared pipeline state machine: by position only, error replies in
/// step, push frames skipped.
@Suite struct RedisPipelineTests {
    typealias Machine = RedisConnectionStateMachine<Int>
    private let later = NIODeadline.uptimeNanoseconds(10_000_000_000)

    private func enqueue(_ machine: inout Machine, _ waiter: Int) {
        guard case .write = machine.enqueue(waiter, request: .ping(), deadline: later) else {
            Issue.record("command \(waiter) refused")
            return
        }
    }

    @Test func repliesPairWithCommandsInOrder() {
        var machine = Machine()
        enqueue(&machine, 1)
        enqueue(&machine, 2)
        guard case .succeed(1, .simpleString("PONG")) = machine.receive(.simpleString("PONG")) else {
            Issue.record("first reply not paired with the first command")
            return
        }
        guard case .succeed(2, .integer(7)) = machine.receive(.integer(7)) else {
            Issue.record("second reply not paired with the second command")
            return
        }
        #expect(machine.pendingCount == 0)
    }

    @Test func anErrorReplyIsTheCommandsReplyAndKeepsTheStreamInStep() {
        var machine = Machine()
        enqueue(&machine, 1)
        enqueue(&machine, 2)
        let refusal = RESPValue.error(RESPError(parsing: "WRONGTYPE Operation against a key holding the wrong kind of value"))
        guard case .succeed(1, refusal) = machine.receive(refusal) else {
            Issue.record("error reply not delivered to its command")
            return
        }
        guard case .succeed(2, .null) = machine.receive(.null) else {
            Issue.record("stream lost step after an error reply")
            return
        }
    }

    @Test func pushFramesAnswerNoCommand() {
        var machine = Machine()
        enqueue(&machine, 1)
        guard case .none = machine.receive(.push([.bulkString(ByteBuffer(string: "invalidate")), .array([])])) else {
            Issue.record("a push frame was paired with a command")
            return
        }
        #expect(machine.pendingCount == 1)
        guard case .succeed(1, _) = machine.receive(.simpleString("OK")) else {
            Issue.record("the real reply was lost after a push frame")
            return
        }
    }

    @Test func anUnsolicitedReplyResetsTheConnection() {
        var machine = Machine()
        guard case .close([], let error, nil) = machine.receive(.simpleString("OK")) else {
            Issue.record("unsolicited reply accepted")
            return
        }
        #expect(error.code == .protocolError)
        guard case .fail(2, let refused) = machine.enqueue(2, request: .ping(), deadline: later) else {
            Issue.record("command accepted on a closed connection")
            return
        }
        #expect(refused.code == .protocolError)
    }

    /// Redis closes the connection after a protocol error (here: a value over its
    /// proto-max-bulk-len), so the client closes it at once: the refused command gets the typed
    /// error, every other command (queued, or arriving late) a reset it may retry, not that error.
    @Test func aProtocolErrorReplyFailsItsCommandAndClosesTheConnection() {
        var machine = Machine()
        enqueue(&machine, 1)
        enqueue(&machine, 2)
        let refusal = RESPValue.error(RESPError(parsing: "ERR Protocol error: invalid bulk length"))
        guard case .close([2], let followers, let head?) = machine.receive(refusal) else {
            Issue.record("the connection stayed open after a protocol error")
            return
        }
        #expect(head.0 == 1)
        #expect(head.1.code == .invalidArgument)
        #expect(followers.code == .connectionReset)
        #expect(followers.isNodeFailure == false)
        guard case .fail(3, let late) = machine.enqueue(3, request: .ping(), deadline: later) else {
            Issue.record("command accepted on a closed connection")
            return
        }
        #expect(late.code == .connectionReset)
    }

    @Test func aDecoderErrorIsAProtocolErrorAndOtherChannelErrorsAClosedConnection() {
        #expect(RedisPipeline.channelFailure(RESPDecodingError(description: "bad type byte")).code == .protocolError)
        #expect(RedisPipeline.channelFailure(ChannelError.ioOnClosedChannel).code == .connectionClosed)
    }

    @Test func commandsEncodeAsRESPArrays() {
        var buffer = ByteBuffer()
        RedisPipeline.encode(.ping(), sequence: 1, into: &buffer)
        #expect(String(buffer: buffer) == "*1\r\n$4\r\nPING\r\n")
    }
}

@Suite struct RedisErrorTests {
    @Test(arguments: [
        ("WRONGTYPE Operation against a key", RedisError.Code.wrongType, false),
        ("NOAUTH Authentication required.", .authenticationFailed, true),
        ("WRONGPASS invalid username-password pair or user is disabled.", .authenticationFailed, true),
        ("NOPERM this user has no permissions to run the 'get' command", .authenticationFailed, true),
        ("LOADING Redis is loading the dataset in memory", .loading, true),
        ("BUSY Redis is busy running a script.", .busy, true),
        ("READONLY You can't write against a read only replica.", .readOnly, true),
        ("OOM command not allowed when used memory > 'maxmemory'.", .outOfMemory, false),
        ("NOSCRIPT No matching script.", .scriptNotFound, false),
        ("ERR unknown command 'FOO'", .serverError, false),
        ("ERR Protocol error: invalid bulk length", .invalidArgument, false),
        ("ERR Protocol error: expected '$', got ' '", .serverError, false),
    ])
    func errorRepliesAreClassifiedByTheirFirstWord(reply: String, code: RedisError.Code, isNodeFailure: Bool) {
        let error = RedisError(reply: RESPError(parsing: reply), node: "r1:redis://127.0.0.1:6379")
        #expect(error.code == code)
        #expect(error.isNodeFailure == isNodeFailure)
        #expect(error.serverErrorCode == String(reply.prefix { $0 != " " }))
        #expect(error.description.contains(reply))
        #expect(error.description.contains("r1:redis://127.0.0.1:6379"))
    }
}

@Suite struct RedisScriptTests {
    @Test func sha1MatchesTheStandardVectors() {
        #expect(SHA1.hexDigest([]) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hexDigest(Array("abc".utf8)) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(
            SHA1.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        )
        // A million bytes: padding after many full blocks.
        #expect(SHA1.hexDigest([UInt8](repeating: 0x61, count: 1_000_000)) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }
}
