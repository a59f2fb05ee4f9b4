import NIOCore
import Synchronization

/// A node's small fixed set of connections, used round-robin.
///
/// A slot still reconnecting is skipped while a sibling is live, so one dropped connection does
/// not fail requests that another connection could carry.
@usableFromInline
package final class ConnectionSlots<Connection: PipelinedConnection, Failure: PipelineFailure>: Sendable {
    @usableFromInline package let slots: [ConnectionSlot<Connection, Failure>]
    @usableFromInline let next = Atomic<Int>(0)

    /// - Precondition: `slots` is not empty (the client configurations validate `connectionsPerNode >= 1`).
    package init(_ slots: [ConnectionSlot<Connection, Failure>]) {
        precondition(!slots.isEmpty, "a node needs at least one connection slot")
        self.slots = slots
    }

    /// The next connection in turn, opening it if needed. Inlinable, as the per-request path.
    ///
    /// A caller already running on one of the connections' event loops (a task that prefers that
    /// loop as its executor, or code on the loop) keeps to that connection: its request is written
    /// and its reply delivered without any thread hop.
    @inlinable
    package func connection() async throws(Failure) -> Connection {
        for slot in slots where slot.eventLoop.inEventLoop {
            if let connection = slot.liveConnection() { return connection }
        }
        let slot = slots[next.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count]
        if let connection = slot.liveConnection() { return connection }
        if slot.isRecovering, let sibling = slots.lazy.compactMap({ $0.liveConnection() }).first {
            return sibling
        }
        return try await slot.connection()
    }

    /// Drains and closes every connection.
    package func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for slot in slots { group.addTask { await slot.shutdown() } }
        }
    }
}
