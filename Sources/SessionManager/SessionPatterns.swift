import Foundation

/// The configuration's regular expressions, compiled once at startup.
///
/// NSRegularExpression rather than Swift's `Regex`: it is documented thread-safe and Sendable,
/// which one shared matcher used by every request needs.
struct SessionPatterns: Sendable {
    private let ignore: WholeStringMatcher?
    private let attributeFilter: NSRegularExpression?
    private let lockRequests: NSRegularExpression?

    init(_ configuration: SessionManagerConfiguration) throws(SessionConfigurationError) {
        ignore = try Self.compile(configuration.requestURIIgnorePattern, setting: "requestURIIgnorePattern").map {
            WholeStringMatcher(pattern: configuration.requestURIIgnorePattern ?? "", regex: $0)
        }
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
        return ignore.matches(path)
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

/// The ignore pattern runs on every request, and NSRegularExpression (ICU) costs a few percent of
/// a request's CPU. msm's usual pattern, `.*\.(ico|png|...)$`, is a set of file extensions: that
/// shape is matched as suffixes, with exactly the regex's result; any other pattern, and any path
/// the suffix check cannot judge alone (non-ASCII, control characters), goes to the regex.
struct WholeStringMatcher: Sendable {
    private let regex: NSRegularExpression
    /// `.png`, `.css`, ...: set when the pattern is `.*\.(ext|ext|...)` with an optional `$`.
    private let suffixes: [[UInt8]]?

    init(pattern: String, regex: NSRegularExpression) {
        self.regex = regex
        self.suffixes = Self.extensionSuffixes(of: pattern)
    }

    func matches(_ text: String) -> Bool {
        guard let suffixes else { return regex.matchesWhole(text) }
        let utf8 = text.utf8
        // `.` does not match line terminators, and case folding rules beyond ASCII are ICU's.
        guard utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return regex.matchesWhole(text) }
        return suffixes.contains { suffix in
            utf8.count >= suffix.count && utf8.suffix(suffix.count).elementsEqual(suffix)
        }
    }

    /// The suffixes of a pattern of the form `.*\.(a|b|c)` or `.*\.(a|b|c)$` whose alternatives
    /// are letters and digits only; `nil` for any other pattern.
    static func extensionSuffixes(of pattern: String) -> [[UInt8]]? {
        var body = Substring(pattern)
        guard body.hasPrefix(#".*\.("#) else { return nil }
        body = body.dropFirst(5)
        if body.hasSuffix("$") { body = body.dropLast() }
        guard body.hasSuffix(")") else { return nil }
        body = body.dropLast()
        let alternatives = body.split(separator: "|", omittingEmptySubsequences: false)
        guard !alternatives.isEmpty,
            alternatives.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { Self.isWordCharacter($0) } })
        else { return nil }
        return alternatives.map { Array(".\($0)".utf8) }
    }

    private static func isWordCharacter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_")
    }
}
