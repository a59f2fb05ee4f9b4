import Foundation
import Testing

@testable import SessionManager

/// The ignore pattern's suffix fast path answers exactly as the regex does.
@Suite struct SessionPatternsTests {
    static let paths = [
        "", "/", ".png", "/a.png", "/a.PNG", "/a.png/", "/a.pngx", "/apng", "/a..png", "/a.png.css", "/a.css.png",
        "/dir.js/page", "/x.js?y=1", "/ä.png", "/a\n.png", "/a.png\n", "/a\r.js", "/tab\t.gif", "/\u{7F}.ico", "/a.ico ",
    ]

    @Test(arguments: [
        #".*\.(ico|png|gif|jpg|css|js)$"#, #".*\.(css)"#, #".*\.(png|PNG|Png2)$"#, #".*\.(a_b|c)$"#,
    ])
    func theSuffixFastPathMatchesAsTheRegexDoes(pattern: String) throws {
        let regex = try NSRegularExpression(pattern: "^(?:\(pattern))$")
        let matcher = WholeStringMatcher(pattern: pattern, regex: regex)
        #expect(WholeStringMatcher.extensionSuffixes(of: pattern) != nil, "this shape takes the fast path")
        for path in Self.paths {
            let expected = regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
            #expect(matcher.matches(path) == expected, "\(pattern) on \(path.debugDescription)")
        }
    }

    @Test(arguments: [
        #".*\.(ico|)$"#, #".*\.(a.b)$"#, #".*\.(png)$x"#, #"/static/.*"#, #".*\.png$"#, #"(.*\.(png))"#, #".*\.()$"#,
    ])
    func otherShapesGoToTheRegex(pattern: String) throws {
        #expect(WholeStringMatcher.extensionSuffixes(of: pattern) == nil)
        let regex = try NSRegularExpression(pattern: "^(?:\(pattern))$")
        let matcher = WholeStringMatcher(pattern: pattern, regex: regex)
        for path in Self.paths + ["/static/x", "/a.png"] {
            let expected = regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)) != nil
            #expect(matcher.matches(path) == expected, "\(pattern) on \(path.debugDescription)")
        }
    }
}
