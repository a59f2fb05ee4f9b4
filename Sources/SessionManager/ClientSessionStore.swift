import ServiceLifecycle

/// A protocol client of one store server, as a session store holds it: one per node.
public protocol SessionStoreClient: Sendable {
    /// Stops taking requests and closes the client's connections once their replies are in.
    func shutdown() async
}

/// A session store made of one protocol client per node of msm's node list: what
/// `MemcachedSessionStore` and `RedisSessionStore` are. It gives the ``SessionManager`` the
/// ``topology``; the manager it is given to closes every client after its last write.
///
/// Used without a manager (its clients alone), it is a swift-service-lifecycle `Service` of its
/// own that closes the clients on graceful shutdown.
public final class ClientSessionStore<Address: SessionNodeAddress, Client: SessionStoreClient>: SessionStore, Service {
    /// The nodes, their ids and failover marking.
    public let nodeList: SessionNodeList<Address>
    /// One client per node, in list order.
    public let clients: [Client]
    /// The nodes as the session manager uses them.
    public let topology: SessionStoreTopology

    /// A store over `nodeList`, with a client per node made by `makeClient` and seen through the
    /// store seam by `makeNode`.
    public init<Failure: Error>(
        nodeList: SessionNodeList<Address>,
        client makeClient: (Address) throws(Failure) -> Client,
        node makeNode: (Client) -> any SessionStoreNode
    ) throws(Failure) {
        var clients: [Client] = []
        for node in nodeList.nodes {
            clients.append(try makeClient(node.address))
        }
        self.nodeList = nodeList
        self.clients = clients
        self.topology = nodeList.topology(stores: clients.map(makeNode))
    }

    /// The client of the node with this id; `nil` addresses the single node of a list without ids.
    public func client(forNode id: String?) -> Client? {
        nodeList.nodes.firstIndex { $0.id == id }.map { clients[$0] }
    }

    /// Runs until graceful shutdown, then closes every client's connections.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Stops every client, once its in-flight replies are in.
    public func shutdown() async {
        await withTaskGroup(of: Void.self) { group in
            for client in clients { group.addTask { await client.shutdown() } }
        }
    }
}

extension ClientSessionStore {
    /// For a store module's convenience initializer: parses msm's `memcachedNodes` and
    /// `failoverNodes` and makes the clients, every failure a ``SessionConfigurationError``
    /// naming the setting as the caller wrote it: `nodesSetting` or `failoverNodesSetting` (the
    /// initializer's parameter names by default; a command line passes its flags), or
    /// `clientSetting` for the client's own configuration.
    public convenience init<Failure: Error>(
        nodes: String,
        failoverNodes: String,
        nodesSetting: String = "nodes",
        failoverNodesSetting: String = "failoverNodes",
        clientSetting: String,
        client makeClient: (Address) throws(Failure) -> Client,
        node makeNode: (Client) -> any SessionStoreNode
    ) throws(SessionConfigurationError) {
        let nodeList: SessionNodeList<Address>
        do {
            // Alone first, so an error in the node list is not blamed on the failover list.
            _ = try SessionNodeList<Address>(parsing: nodes)
        } catch {
            throw SessionConfigurationError(setting: nodesSetting, error.description)
        }
        do {
            nodeList = try SessionNodeList(parsing: nodes, failoverNodes: failoverNodes)
        } catch {
            throw SessionConfigurationError(setting: failoverNodesSetting, error.description)
        }
        do {
            try self.init(nodeList: nodeList, client: makeClient, node: makeNode)
        } catch {
            throw SessionConfigurationError(setting: clientSetting, "\(error)")
        }
    }
}
