import Hummingbird
import HummingbirdTesting
import ServerTestSupport
import SessionManager
import SessionManagerTestSupport
import Synchronization
import Testing

/// Real memcached nodes for one test (see ``MemcachedTestCluster``).
typealias MemcachedCluster = MemcachedTestCluster

extension TestResponse {
    /// Every `Set-Cookie` header of the response.
    var setCookies: [String] { headers[values: .setCookie] }

    /// The body as text.
    var text: String { String(buffer: body) }
}
