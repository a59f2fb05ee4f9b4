/// `name=value` of a `Set-Cookie` header, ready for a `Cookie` request header.
public func cookiePair(_ setCookie: String) -> String {
    String(setCookie.prefix { $0 != ";" })
}

/// The value of a `Set-Cookie` header (between `=` and the first `;`).
public func cookieValue(_ setCookie: String) -> String {
    let pair = cookiePair(setCookie)
    guard let equals = pair.firstIndex(of: "=") else { return "" }
    return String(pair[pair.index(after: equals)...])
}
