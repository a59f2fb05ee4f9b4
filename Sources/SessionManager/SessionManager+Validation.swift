/// The configuration checks that make a setting that cannot work fail at start, naming it.
extension SessionManager {
    static func validate(_ configuration: SessionManagerConfiguration, store: SessionStoreTopology) throws(SessionConfigurationError) {
        if !configuration.enabled && !configuration.sticky {
            throw SessionConfigurationError(
                setting: "enabled", "a disabled store only works with sticky sessions (non-sticky sessions live nowhere else)")
        }
        if configuration.enabled {
            if store.nodes.isEmpty {
                throw SessionConfigurationError(setting: "store", "the store has no node")
            }
            if store.nodes.count > 1, store.nodes.contains(where: { $0.id == nil }) {
                throw SessionConfigurationError(setting: "store", "with several nodes every node needs an id (id:host:port)")
            }
            for node in store.nodes {
                if let id = node.id, !SessionID.isValidNodeID(id) {
                    throw SessionConfigurationError(
                        setting: "store", "node id \"\(id)\" must be letters, digits or '_' (it becomes part of session ids)")
                }
            }
            if !store.nodes.isEmpty, store.nodes.allSatisfy(\.isFailover) {
                throw SessionConfigurationError(setting: "store", "every node is a failover node; at least one must not be")
            }
        }
        if let route = configuration.route, !SessionID.isValidRoute(route) {
            throw SessionConfigurationError(setting: "route (jvmRoute)", "\"\(route)\" must be 1-64 letters, digits, '_' or '-'")
        }
        let prefix = configuration.storageKeyPrefix
        if prefix.utf8.count > 64 || prefix.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            throw SessionConfigurationError(setting: "storageKeyPrefix", "at most 64 printable ASCII characters without spaces")
        }
        if configuration.maximumLocalSessions < 1 {
            throw SessionConfigurationError(setting: "maximumLocalSessions", "must be at least 1")
        }
        if configuration.lockExpiration < .seconds(1) {
            throw SessionConfigurationError(setting: "lockExpiration", "must be at least 1 s (the store's resolution)")
        }
        if configuration.lockTimeout <= .zero {
            throw SessionConfigurationError(setting: "lockTimeout", "must be positive")
        }
        if configuration.nodeAvailabilityTTL <= .zero {
            throw SessionConfigurationError(setting: "nodeAvailabilityTTL", "must be positive")
        }
        try SessionCookieFormatter.validate(configuration.cookie)
    }
}
