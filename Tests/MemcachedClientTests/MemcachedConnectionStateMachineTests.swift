import NIOCore
import PipelinedConnections
import Testing

@testable import MemcachedClient

@Suite struct MemcachedConnectionStateMachineTests {
    typealias Machine = MemcachedConnectionStateMachine<Int>
    private let later = NIODeadline.uptimeNanoseconds(10_000_000_000)

    private func enqueue(_ machine: inout Machine, _ waiter: Int, usesOpaque: Bool = true) -> UInt32? {
        guard case .write(let opaque) = machine.enqueue(waiter, usesOpaque: usesOpaque, deadline: later) else { return nil }
        return opaque
    }

    @Test func pairsRepliesInOrderByOpaque() {
        var machine = Machine()
        let first = enqueue(&machine, 1)
        let second = enqueue(&machine, 2)
        #expect(first != nil && first != second)

        guard case .succeed(1, _) = machine.receive(MemcachedResponse(status: .stored, opaque: first)) else {
            Issue.record("first reply not paired with first request")
            return
        }
        guard case .succeed(2, _) = machine.receive(MemcachedResponse(status: .miss, opaque: second)) else {
            Issue.record("second reply not paired with second request")
            return
        }
        #expect(machine.pendingCount == 0)
    }

    @Test func noopAndVersionArePairedWithoutOpaque() {
        var machine = Machine()
        _ = enqueue(&machine, 1, usesOpaque: false)
        guard case .succeed(1, _) = machine.receive(MemcachedResponse(status: .noop)) else {
            Issue.record("mn reply not delivered")
            return
        }
    }

    @Test func aMismatchedOpaqueResetsTheConnection() {
        var machine = Machine()
        let first = enqueue(&machine, 1)!
        _ = enqueue(&machine, 2)
        guard case .close(let others, let othersError, let head) = machine.receive(MemcachedResponse(status: .stored, opaque: first &+ 1)) else {
            Issue.record("mismatch not detected")
            return
        }
        #expect(others == [2])
        #expect(othersError.code == .connectionReset)
        #expect(othersError.isNodeFailure == false, "the queued requests were not at fault: retry them")
        #expect(head?.0 == 1)
        #expect(head?.1.code == .protocolError)
        // Closed: later requests fail at once instead of waiting forever, like the queued ones
        // (not with the head's own error: they were not at fault).
        guard case .fail(3, let error) = machine.enqueue(3, usesOpaque: true, deadline: later) else {
            Issue.record("request accepted on a closed connection")
            return
        }
        #expect(error.code == .connectionReset)
        #expect(error.message.contains("opaque"), "names the earlier failure: \(error.message)")
    }

    @Test func anUnsolicitedReplyResetsTheConnection() {
        var machine = Machine()
        guard case .close([], let error, nil) = machine.receive(MemcachedResponse(status: .stored)) else {
            Issue.record("unsolicited reply accepted")
            return
        }
        #expect(error.code == .protocolError)
    }

    @Test func tooLargeAndOutOfMemoryFailOnlyTheirRequest() {
        var machine = Machine()
        _ = enqueue(&machine, 1)
        _ = enqueue(&machine, 2)
        let third = enqueue(&machine, 3)
        guard case .fail(1, let tooLarge) = machine.receive(MemcachedResponse(status: .serverError("object too large for cache"))) else {
            Issue.record("too large not a per-request failure")
            return
        }
        #expect(tooLarge.code == .itemTooLarge)
        guard case .fail(2, let noMemory) = machine.receive(MemcachedResponse(status: .serverError("out of memory storing object"))) else {
            Issue.record("out of memory not a per-request failure")
            return
        }
        #expect(noMemory.code == .outOfMemory)
        guard case .succeed(3, _) = machine.receive(MemcachedResponse(status: .stored, opaque: third)) else {
            Issue.record("stream lost step after a per-request failure")
            return
        }
    }

    @Test func arithmeticOnANonNumberFailsOnlyItsRequest() {
        var machine = Machine()
        _ = enqueue(&machine, 1)
        let second = enqueue(&machine, 2)
        guard case .fail(1, let error) = machine.receive(MemcachedResponse(status: .clientError("cannot increment or decrement non-numeric value")))
        else {
            Issue.record("non-numeric arithmetic reset the connection")
            return
        }
        #expect(error.code == .invalidValue)
        guard case .succeed(2, _) = machine.receive(MemcachedResponse(status: .stored, opaque: second)) else {
            Issue.record("stream lost step")
            return
        }
    }

    @Test(arguments: [
        MemcachedResponse.Status.serverError("busy"), .clientError("bad data chunk"), .error,
    ])
    func otherErrorsResetTheConnection(status: MemcachedResponse.Status) {
        var machine = Machine()
        _ = enqueue(&machine, 1)
        _ = enqueue(&machine, 2)
        guard case .close([2], _, let head) = machine.receive(MemcachedResponse(status: status)) else {
            Issue.record("\(status) did not reset the connection")
            return
        }
        #expect(head?.0 == 1)
    }

    @Test func theHeadsDeadlineTimesOutEveryPendingRequest() {
        var machine = Machine()
        let start = NIODeadline.uptimeNanoseconds(1_000)
        _ = machine.enqueue(1, usesOpaque: true, deadline: start + .seconds(1))
        _ = machine.enqueue(2, usesOpaque: true, deadline: start + .seconds(2))

        guard case .rearm(let deadline) = machine.checkTimeouts(now: start + .milliseconds(500), timeout: .seconds(1)) else {
            Issue.record("timed out early")
            return
        }
        #expect(deadline == start + .seconds(1))

        guard case .close(let waiters, let error) = machine.checkTimeouts(now: start + .seconds(1), timeout: .seconds(1)) else {
            Issue.record("did not time out")
            return
        }
        #expect(waiters == [1, 2])
        #expect(error.code == .timeout)
        guard case .none = machine.checkTimeouts(now: start + .seconds(5), timeout: .seconds(1)) else {
            Issue.record("timed out twice")
            return
        }
    }

    @Test func closingFailsEveryWaiterOnce() {
        var machine = Machine()
        _ = enqueue(&machine, 1)
        _ = enqueue(&machine, 2)
        #expect(machine.close(MemcachedError(.connectionClosed, "gone")) == [1, 2])
        #expect(machine.close(MemcachedError(.connectionClosed, "gone")) == [])
    }

    @Test func drainingRefusesNewRequestsAndClosesAfterTheLastReply() {
        var machine = Machine()
        let first = enqueue(&machine, 1)
        let closesNow = machine.drain()
        #expect(closesNow == false)
        guard case .fail(2, let error) = machine.enqueue(2, usesOpaque: true, deadline: later) else {
            Issue.record("draining connection took a request")
            return
        }
        #expect(error.code == .clientShutdown)
        guard case .succeedAndClose(1, _) = machine.receive(MemcachedResponse(status: .stored, opaque: first)) else {
            Issue.record("last reply did not close")
            return
        }
    }

    @Test func drainingAnIdleConnectionClosesAtOnce() {
        var machine = Machine()
        let closesNow = machine.drain()
        #expect(closesNow)
    }

    @Test func opaqueTokensWrapAround() {
        var machine = Machine()
        var seen = Set<UInt32>()
        for waiter in 0..<1000 {
            if let opaque = enqueue(&machine, waiter) { seen.insert(opaque) }
        }
        #expect(seen.count == 1000)
    }
}

extension MemcachedConnectionStateMachineTests {
    @Test func aDrainedConnectionReportsShutdownNotAFailure() {
        var machine = Machine()
        _ = machine.drain()
        _ = machine.close(MemcachedError(.connectionClosed, "channel closed"))
        #expect(machine.closedError?.code == .clientShutdown)
        guard case .fail(1, let error) = machine.enqueue(1, usesOpaque: true, deadline: .now()) else {
            Issue.record("closed connection took a request")
            return
        }
        #expect(error.code == .clientShutdown)
    }
}

extension MemcachedConnectionStateMachineTests {
    @Test func drainingClosesAfterALastReplyThatIsAPerRequestFailure() {
        var machine = Machine()
        _ = enqueue(&machine, 1)
        _ = machine.drain()
        guard case .close([], let error, let head) = machine.receive(MemcachedResponse(status: .serverError("object too large for cache"))) else {
            Issue.record("a drained connection stayed open after its last reply")
            return
        }
        #expect(error.code == .itemTooLarge)
        #expect(head?.0 == 1)
    }
}

extension MemcachedConnectionStateMachine where Protocol == MemcachedPipeline {
    /// A request that carries an opaque token (`mg`) or cannot (`mn`).
    mutating func enqueue(_ waiter: Waiter, usesOpaque: Bool, deadline: NIODeadline) -> EnqueueAction {
        let command: MemcachedRequest.Command = usesOpaque ? .get(try! MemcachedKey("k"), touch: nil) : .noop
        return enqueue(waiter, request: MemcachedRequest(command: command), deadline: deadline)
    }
}
