import SessionManager
import Vapor

extension Application {
    /// Distributed sessions for this application: `app.distributedSessions.use(manager)`.
    public var distributedSessions: DistributedSessions { DistributedSessions(application: self) }

    /// Installs a `SessionManager` in a Vapor application.
    public struct DistributedSessions: Sendable {
        let application: Application

        /// Adds ``DistributedSessionsMiddleware`` to every route and ties the manager to the
        /// application's lifecycle: at shutdown it finishes the writes still running after their
        /// responses (`sessionBackupAsync`), then closes the store's connections.
        public func use(_ manager: SessionManager) {
            application.middleware.use(DistributedSessionsMiddleware(manager: manager))
            manageLifecycle(of: manager)
        }

        /// Only ties the manager to the application's lifecycle, for apps that put
        /// ``DistributedSessionsMiddleware`` on some route groups rather than on every route.
        public func manageLifecycle(of manager: SessionManager) {
            application.lifecycle.use(ManagerLifecycle(manager: manager))
            manager.markRunByHost()
        }
    }

    /// Shuts the manager down with the application.
    struct ManagerLifecycle: LifecycleHandler {
        let manager: SessionManager

        func shutdownAsync(_ application: Application) async {
            await manager.shutdown()
        }
    }
}
