import Testing

@testable import SessionManager

@Suite struct SessionCookieReaderTests {
    @Test func findsTheSessionCookieAmongOthers() {
        #expect(SessionCookieReader.value(named: "SESSIONID", in: ["a=1; SESSIONID=ABC-m1.A; b=2"]) == "ABC-m1.A")
        #expect(SessionCookieReader.value(named: "SESSIONID", in: ["a=1", "SESSIONID=X"]) == "X")
        #expect(SessionCookieReader.value(named: "SESSIONID", in: ["SESSIONID=\"Q\""]) == "Q")
        #expect(SessionCookieReader.value(named: "SESSIONID", in: ["  SESSIONID=V  "]) == "V")
    }

    @Test func ignoresNamesThatOnlyStartTheSame() {
        #expect(SessionCookieReader.value(named: "SESSIONID", in: ["SESSIONID2=no; XSESSIONID=no"]) == nil)
        #expect(SessionCookieReader.value(named: "SESSIONID", in: []) == nil)
        #expect(SessionCookieReader.value(named: "SESSIONID", in: ["SESSIONID"]) == nil)
    }
}
