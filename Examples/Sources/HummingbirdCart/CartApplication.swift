import Hummingbird
import HummingbirdAuth
import HummingbirdSessionAuth
import HummingbirdSessionManager
import SessionManager

/// The shopping cart a visitor builds, kept as the session's one typed value.
struct Cart: Codable, Equatable, Sendable {
    var items: [String] = []
}

/// A customer account. A real app loads it from its database.
struct Customer: Sendable {
    var id: String
    var name: String
    var password: String
}

/// This app's request context: distributed sessions plus hummingbird-auth's identity.
struct CartRequestContext: AuthRequestContext, DistributedSessionRequestContext {
    var coreContext: CoreRequestContextStorage
    var identity: Customer?
    var sessions = DistributedSessionContext()

    init(source: Source) {
        self.coreContext = .init(source: source)
    }
}

/// The customers this example knows.
let customers: [String: Customer] = [
    "alice": Customer(id: "alice", name: "Alice", password: "wonderland"),
    "bob": Customer(id: "bob", name: "Bob", password: "builder"),
]

/// The cart's routes over any session store: memcached in `main`, memory in the tests.
///
/// - `GET /cart`: the cart; an anonymous visitor without a session gets an empty one, and no
///   session is created for it.
/// - `POST /cart/items?item=tea`: adds an item (creates the session).
/// - `POST /login?user=alice&password=wonderland`: logs in (new session id, cart kept).
/// - `GET /account`: the logged-in customer's name, or 401.
/// - `POST /logout`: ends the session; the cart goes with it.
func buildRouter(manager: SessionManager) -> Router<CartRequestContext> {
    // snippet: hummingbird-cart
    let router = Router(context: CartRequestContext.self)  // adopts DistributedSessionRequestContext
    router.add(middleware: DistributedSessionMiddleware(manager: manager))

    router.get("/cart") { _, context -> String in
        let cart = try await context.sessions.value(as: Cart.self) ?? Cart()  // never creates a session
        return cart.items.joined(separator: ",")
    }
    router.post("/cart/items") { request, context -> String in
        guard let item = request.uri.queryParameters.get("item"), !item.isEmpty else {
            throw HTTPError(.badRequest, message: "add an item with ?item=NAME")
        }
        var cart = try await context.sessions.value(as: Cart.self) ?? Cart()
        cart.items.append(item)
        try await context.sessions.setValue(cart)
        return cart.items.joined(separator: ",")
    }
    router.post("/login") { request, context -> String in
        let name = request.uri.queryParameters.get("user") ?? ""
        guard let customer = customers[name], customer.password == request.uri.queryParameters.get("password") else {
            throw HTTPError(.unauthorized, message: "unknown user or wrong password")
        }
        try await context.sessions.logIn(userID: customer.id)  // a new id against fixation; the cart stays
        return "welcome, \(customer.name)"
    }
    router.post("/logout") { _, context -> String in
        try await context.sessions.logOut()
        return "bye"
    }

    // Only the account pages ask who is logged in.
    router.group("/account")
        .add(middleware: DistributedSessionAuthenticator(context: CartRequestContext.self) { (id: String, _) in customers[id] })
        .add(middleware: IsAuthenticatedMiddleware())
        .get { _, context -> String in
            "\(try context.requireIdentity().name)"
        }
    // end snippet
    return router
}
