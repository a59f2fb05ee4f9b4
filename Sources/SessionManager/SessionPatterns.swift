import Foundation

/// The configuration's regular expressions, compiled once at startup.
///
/// NSRegularExpression rather than Swift's `Regex`: it is documented thread-safe and Sendable,
/// which one shared matcher used by every request needs.
struct SessionPatterns: Sendable {
    private let ignore: NSRegularExpression?
    private let attributeFilter: NSRegularExpression?
    private let lockRequests: NSRegularExpression?

    init(_ configuration: SessionManagerConfiguration) throws(SessionConfigurationError) {
        ignore = try Self.compile(configuration.requestURIIgnorePattern, setting: "requestURIIgnorePattern")
        attributeFilter = try Self.compile(configuration.sessionAttributeFilter, setting: "sessionAttributeFilter")
        if case .uriPattern(let pattern) = configuration.lockingMode {
            lockRequests = try Self.compile(pattern, setting: "lockingMode")
        } else {
            lockRequests = nil
        }
    }

    /// Matches the path alone, so a query string cannot defeat the pattern (msm #371).
    func isIgnored(path: String) -> Bool {
        guard let ignore else { return false }
        return ignore.matchesWhole(path)
    }

    func locks(method: String, path: String) -> Bool {
        guard let lockRequests else { return false }
        return lockRequests.matchesWhole("\(method) \(path)")
    }

    /// The attributes that go to the store (msm's `sessionAttributeFilter`); the package's own
    /// (the whole-session value, the logged-in user) always do.
    func persistedAttributes(_ attributes: [String: [UInt8]]) -> [String: [UInt8]] {
        guard let attributeFilter else { return attributes }
        return attributes.filter { $0.key.hasPrefix(Session.reservedAttributePrefix) || attributeFilter.matchesWhole($0.key) }
    }

    private static func compile(_ pattern: String?, setting: String) throws(SessionConfigurationError) -> NSRegularExpression? {
        guard let pattern else { return nil }
        do {
            return try NSRegularExpression(pattern: "^(?:\(pattern))$")
        } catch {
            throw SessionConfigurationError(setting: setting, "\"\(pattern)\" is not a valid regular expression: \(error)")
        }
    }
}

extension NSRegularExpression {
    /// True when the whole string matches (the pattern is anchored at compile time).
    fileprivate func matchesWhole(_ text: String) -> Bool {
        firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
