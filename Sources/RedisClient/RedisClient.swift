import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A client for a list of Redis nodes addressed by id, as msm's session ids address them.
///
/// Run it as a swift-service-lifecycle `Service` (or call ``shutdown()`` yourself): on graceful
/// shutdown it stops taking commands and closes each connection once its replies are in.
///
/// ```swift
/// let nodes = try RedisNodeList(parsing: "r1:redis://127.0.0.1:6379,r2:redis://:secret@127.0.0.1:6380/1")
/// let client = try RedisClient(nodeList: nodes)
/// try await client.node(id: "r1").set("greeting", value: ByteBuffer(string: "hello"), expiration: .seconds(60))
/// ```
public final class RedisClient: Service, Sendable {
    /// The nodes as configured, with the failover ones marked.
    public let nodeList: RedisNodeList
    /// One client per node, in list order.
    public let nodes: [RedisNodeClient]
    private let nodesByID: [String: RedisNodeClient]
    private let logger: Logger

    /// Creates a client; no connection is opened until the first command to a node.
    /// - Throws: ``RedisError/Code/invalidArgument`` when `configuration` is inconsistent or its
    ///   TLS settings cannot be loaded for a `rediss://` node.
    public init(
        nodeList: RedisNodeList,
        configuration: RedisClientConfiguration = .init(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "redis")
    ) throws(RedisError) {
        let configuration = try configuration.validated()
        self.nodeList = nodeList
        self.logger = logger
        var nodes: [RedisNodeClient] = []
        for node in nodeList.nodes {
            nodes.append(try RedisNodeClient(node: node, configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger))
        }
        self.nodes = nodes
        var byID: [String: RedisNodeClient] = [:]
        for client in nodes { byID[client.node.id ?? ""] = client }
        self.nodesByID = byID
    }

    /// The node with this id; `nil` addresses the single node of a list written without ids.
    /// - Throws: ``RedisError/Code/unknownNode`` naming the ids that exist.
    public func node(id: String?) throws(RedisError) -> RedisNodeClient {
        guard let client = nodesByID[id ?? ""] else {
            let known = nodeList.nodes.map { $0.id ?? "(no id)" }.joined(separator: ", ")
            throw RedisError(.unknownNode, "no node \"\(id ?? "(no id)")\" in the node list; known: \(known)")
        }
        return client
    }

    /// Runs until graceful shutdown, then drains and closes every connection.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops taking commands and closes every connection once its in-flight replies are in.
    /// Bounded: a hung node's connection is reset by the operation timeout.
    public func shutdown() async {
        logger.debug("redis client shutting down")
        await withTaskGroup(of: Void.self) { group in
            for node in nodes { group.addTask { await node.shutdown() } }
        }
    }
}
