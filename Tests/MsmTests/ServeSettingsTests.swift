import Foundation
import Testing

@testable import msm

/// `msm serve`'s settings as parsed from flags and environment, without starting a server (the
/// end-to-end tests run the binary; these reach what its output cannot show without a
/// non-loopback store, which a test may not contact).
@Suite struct ServeSettingsTests {
    private func settings(_ arguments: [String], environment: [String: String] = [:]) throws -> ServeSettings {
        try ServeSettings(try ServeCommand.parse(["--memcached-nodes"] + arguments), environment: environment)
    }

    @Test func aNonLoopbackStoreWithoutEncryptionIsWarnedAbout() throws {
        let remote = try settings(["m1:10.0.0.5:11211,m2:127.0.0.1:11212"])
        #expect(remote.startupWarnings.count == 1)
        #expect(remote.startupWarnings.first?.contains("--session-encryption-keys") == true)

        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  // 32 bytes 0...31
        #expect(try settings(["cache.internal:11211"], environment: ["MSM_SESSION_ENCRYPTION_KEYS": key]).startupWarnings.isEmpty)
        #expect(try settings(["m1:127.0.0.1:11211,m2:localhost:11212"]).startupWarnings.isEmpty, "loopback only")
        #expect(try settings(["r1:redis://[::1]:6379"]).startupWarnings.isEmpty)
    }

    @Test func aMemcachedPasswordOverAPlainNetworkIsWarnedAbout() throws {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
        let environment = ["MSM_MEMCACHED_PASSWORD": "s3cret", "MSM_SESSION_ENCRYPTION_KEYS": key]
        let plain = try settings(["10.0.0.5:11211", "--memcached-username", "app"], environment: environment)
        #expect(plain.startupWarnings.count == 1)
        #expect(plain.startupWarnings.first?.contains("--memcached-tls true") == true)
        #expect(plain.startupWarnings.allSatisfy { !$0.contains("s3cret") })
        let tls = try settings(["10.0.0.5:11211", "--memcached-username", "app", "--memcached-tls", "true"], environment: environment)
        #expect(tls.startupWarnings.isEmpty)
    }

    @Test func passwordFilesWithWindowsLineEndingsWork() throws {
        let file = "/tmp/msm-password-\(UInt32.random(in: 0...UInt32.max))"
        try "s3cret\r\nignored\r\n".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let parsed = try settings(["127.0.0.1:11211", "--memcached-username", "app", "--memcached-password-file", file])
        #expect(parsed.memcachedCredentials?.username == "app", "a password ending in \\r would have been refused as a control character")
    }
}

/// Event loops sized by CPU affinity, which SwiftNIO ignores.
@Suite struct EventLoopCountTests {
    @Test(arguments: [
        ("Cpus_allowed_list:\t0\n", 1), ("Name:\tmsm\nCpus_allowed_list:\t0-3,8\n", 5), ("Cpus_allowed_list:\t2-3, 6-7\n", 4),
    ])
    func allowedCPUsCountTheList(status: String, count: Int) {
        #expect(EventLoopCount.allowedCPUs(procStatus: status) == count)
    }

    @Test(arguments: ["", "Cpus_allowed:\tff\n", "Cpus_allowed_list:\t3-1\n", "Cpus_allowed_list:\t1-2-3\n", "Cpus_allowed_list:\tx\n"])
    func anUnreadableListIsNil(status: String) {
        #expect(EventLoopCount.allowedCPUs(procStatus: status) == nil)
    }

    @Test func theFlagWinsThenTheSmallerOfNIOAndTheAffinity() {
        #expect(EventLoopCount.decide(requested: 3, nioDefault: 8, allowedCPUs: 1) == 3)
        #expect(EventLoopCount.decide(requested: nil, nioDefault: 8, allowedCPUs: 2) == 2)
        #expect(EventLoopCount.decide(requested: nil, nioDefault: 2, allowedCPUs: 16) == 2)
        #expect(EventLoopCount.decide(requested: nil, nioDefault: 4, allowedCPUs: nil) == 4)
    }
}
