// TEMPORARY stub until the redis-nodes branch lands.
public struct RedisPassword: Sendable, Hashable { public var value: String }
public struct RedisNode: Sendable, Hashable, CustomStringConvertible {
    public var id: String?
    public var host: String
    public var port: Int
    public var database: Int
    public var username: String?
    public var password: RedisPassword?
    public var description: String { "\(id ?? ""):redis://\(host):\(port)/\(database)" }
    public var endpoint: String { "\(host):\(port)" }
}
public struct RedisNodeList: Sendable, Hashable {
    public var nodes: [RedisNode]
    public var failoverNodeIDs: [String]
    public func isFailoverNode(id: String) -> Bool { failoverNodeIDs.contains(id) }
}
