import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A client for a list of memcached nodes addressed by id, as msm's session ids address them.
///
/// Run it as a swift-service-lifecycle `Service` (or call ``shutdown()`` yourself): on graceful
/// shutdown it stops taking requests and closes each connection once its replies are in.
///
/// ```swift
/// let nodes = try MemcachedNodeList(parsing: "m1:127.0.0.1:11211,m2:127.0.0.1:11212")
/// let client = MemcachedClient(nodeList: nodes)
/// try await client.node(id: "m1").set(MemcachedKey("greeting"), value: ByteBuffer(string: "hello"))
/// ```
public final class MemcachedClient: Service, Sendable {
    /// The nodes as configured, with the failover ones marked.
    public let nodeList: MemcachedNodeList
    /// One client per node, in list order.
    public let nodes: [MemcachedNodeClient]
    private let nodesByID: [String: MemcachedNodeClient]
    private let logger: Logger

    /// Creates a client; no connection is opened until the first request to a node.
    /// - Throws: ``MemcachedError/Code/invalidValue`` when `configuration` is inconsistent.
    public init(
        nodeList: MemcachedNodeList,
        configuration: MemcachedClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "memcached")
    ) throws(MemcachedError) {
        let configuration = try configuration.validated()
        self.nodeList = nodeList
        self.logger = logger
        self.nodes = nodeList.nodes.map {
            MemcachedNodeClient(node: $0, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        }
        var byID: [String: MemcachedNodeClient] = [:]
        for client in nodes { byID[client.node.id ?? ""] = client }
        self.nodesByID = byID
    }

    /// The node with this id; `nil` addresses the single node of a list written without ids.
    /// - Throws: ``MemcachedError/Code/unknownNode`` naming the ids that exist.
    public func node(id: String?) throws(MemcachedError) -> MemcachedNodeClient {
        guard let client = nodesByID[id ?? ""] else {
            let known = nodeList.nodes.map { $0.id ?? "(no id)" }.joined(separator: ", ")
            throw MemcachedError(.unknownNode, "no node \"\(id ?? "(no id)")\" in the node list; known: \(known)")
        }
        return client
    }

    /// Runs until graceful shutdown, then drains and closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops taking requests and closes every connection once its in-flight replies are in.
    /// Bounded: a hung node's connection is reset by the operation timeout.
    public func shutdown() async {
        logger.debug("memcached client shutting down")
        await withTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { await node.shutdown() } }
        }
    }
}
