import Hummingbird
import HummingbirdTesting
import MemcachedClient
import ServerTestSupport
import SessionManagerTestSupport
import SessionManager
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

/// `name=value` of a `Set-Cookie` header, ready for a `Cookie` request header.
func cookiePair(_ setCookie: String) -> String {
    String(setCookie.prefix { $0 != ";" })
}

/// The value of a `Set-Cookie` header (between `=` and the first `;`).
func cookieValue(_ setCookie: String) -> String {
    let pair = cookiePair(setCookie)
    guard let equals = pair.firstIndex(of: "=") else { return "" }
    return String(pair[pair.index(after: equals)...])
}
