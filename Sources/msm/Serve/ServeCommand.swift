import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdSessionManager
import Logging
import MemcachedClient
import MemcachedSessionStore
import Metrics
import NIOSSL
import PipelinedConnections
import Prometheus
import RedisClient
import RedisSessionStore
import SessionCrypto
import SessionManager

/// `msm serve`: one app server of the seed's topology, running the demo app.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run one demo app server (the seed's Tomcat with msm).",
        discussion: "Each flag falls back to the environment variable named in its help, then to its default."
    )

    enum Mode: String, EnumerableFlag {
        case sticky, nonSticky

        static func help(for value: Mode) -> ArgumentHelp? {
            switch value {
            case .sticky: return "Sessions stay in this server's memory between requests (msm: sticky=\"true\", the default). Env: MSM_STICKY=true"
            case .nonSticky: return "Load every session from the store per request (msm: sticky=\"false\"). Env: MSM_STICKY=false"
            }
        }
    }

    @Option(help: "Address to listen on. Env: MSM_HOST (default 127.0.0.1)")
    var host: String?

    @Option(help: "Port to listen on. Env: MSM_PORT (default 8081)")
    var port: Int?

    @Option(help: "This server's name in session ids, for sticky balancers (msm: jvmRoute). Env: MSM_ROUTE")
    var route: String?

    // The help shows syntax only, never a value: a Redis URL may carry a password.
    @Option(
        help: ArgumentHelp(
            "Session store nodes (msm: memcachedNodes). Env: MSM_MEMCACHED_NODES (required)",
            discussion: """
                memcached: m1:127.0.0.1:11211,m2:127.0.0.1:11212 (one node may omit its id). \
                Redis: redis://[user:password@]host[:port][/db] (rediss:// for TLS) for one node, \
                r1:redis://...,r2:redis://... for several. redis:// entries select the Redis store; \
                a list may not mix both. Passwords are never logged; pass them in MSM_MEMCACHED_NODES \
                rather than on the command line, where `ps` shows them to other users.
                """
        ))
    var memcachedNodes: String?

    @Option(help: "Nodes used only while every other node is down, e.g. m1 or r1 (msm: failoverNodes). Env: MSM_FAILOVER_NODES")
    var failoverNodes: String?

    @Option(help: "PEM file of the certificate authority rediss:// nodes are verified against (default: the system's). Env: MSM_REDIS_TLS_CA_FILE")
    var redisTlsCaFile: String?

    @Option(help: "memcached -Y login: the username. Env: MSM_MEMCACHED_USERNAME (the password: MSM_MEMCACHED_PASSWORD or --memcached-password-file)")
    var memcachedUsername: String?

    // No password flag: `ps` would show it to every user of the machine.
    @Option(help: "File whose first line is the memcached password (with --memcached-username). Env: MSM_MEMCACHED_PASSWORD_FILE")
    var memcachedPasswordFile: String?

    @Option(help: "TLS to the memcached nodes (memcached -Z), verified against the system's CAs. Env: MSM_MEMCACHED_TLS (default false)")
    var memcachedTls: Bool?

    @Option(
        help:
            "PEM file of the certificate authority memcached nodes are verified against (implies --memcached-tls true). Env: MSM_MEMCACHED_TLS_CA_FILE"
    )
    var memcachedTlsCaFile: String?

    @Option(
        help: "PEM client certificate for memcached nodes that ask for one (with --memcached-tls-key-file). Env: MSM_MEMCACHED_TLS_CERTIFICATE_FILE")
    var memcachedTlsCertificateFile: String?

    @Option(help: "PEM private key of --memcached-tls-certificate-file. Env: MSM_MEMCACHED_TLS_KEY_FILE")
    var memcachedTlsKeyFile: String?

    @Option(
        help: ArgumentHelp(
            "Keys encrypting stored sessions, base64, comma-separated: the first encrypts, all decrypt. Env: MSM_SESSION_ENCRYPTION_KEYS (default: off)",
            discussion: """
                Make a key with `msm new-encryption-key`. Rotate by listing the new key second on every \
                server, then first, then dropping the old one once its sessions expired. `unencrypted` in \
                the list reads (or, first, writes) plain sessions, for turning encryption on without logging \
                anyone out. Pass keys in the environment, not on the command line, where `ps` shows them.
                """
        ))
    var sessionEncryptionKeys: String?

    @Option(
        help:
            "File holding the encryption keys (one per line, or the comma-separated list), the first encrypting. Env: MSM_SESSION_ENCRYPTION_KEYS_FILE"
    )
    var sessionEncryptionKeysFile: String?

    @Flag(help: nil)
    var mode: Mode?

    @Option(help: "none | all | auto | uriPattern:<regex> (msm: lockingMode, non-sticky only). Env: MSM_LOCKING_MODE (default none)")
    var lockingMode: String?

    @Option(
        help:
            "Paths matching this regex do no session work (msm: requestUriIgnorePattern). Env: MSM_REQUEST_URI_IGNORE_PATTERN (default '.*\\.(ico|png|gif|jpg|css|js)$')"
    )
    var requestUriIgnorePattern: String?

    @Option(help: "Session cookie name (Tomcat: JSESSIONID; __Host-SESSIONID for the strictest cookie). Env: MSM_COOKIE_NAME (default SESSIONID)")
    var cookieName: String?

    @Option(help: "The app is reached over HTTPS (a TLS-terminating proxy in front): cookies get Secure. Env: MSM_BEHIND_HTTPS (default false)")
    var behindHttps: Bool?

    @Option(help: "Send the cookie only over HTTPS. Env: MSM_COOKIE_SECURE (default: --behind-https)")
    var cookieSecure: Bool?

    @Option(help: "strict | lax | none (none needs a secure cookie). Env: MSM_COOKIE_SAME_SITE (default lax)")
    var cookieSameSite: String?

    @Option(help: "Cookie Domain attribute (default none: this host only). Env: MSM_COOKIE_DOMAIN")
    var cookieDomain: String?

    @Option(help: "Cookie Path attribute. Env: MSM_COOKIE_PATH (default /)")
    var cookiePath: String?

    @Option(
        help: "Seconds of inactivity before a session expires, 0 = never (msm: maxInactiveInterval). Env: MSM_MAX_INACTIVE_INTERVAL (default 1800)")
    var maxInactiveInterval: Int?

    @Option(help: "Milliseconds a store operation (memcached or Redis) may take (msm: operationTimeout). Env: MSM_OPERATION_TIMEOUT (default 1000)")
    var operationTimeout: Int?

    @Option(help: "Store sessions after the response instead of before (msm: sessionBackupAsync). Env: MSM_SESSION_BACKUP_ASYNC (default false)")
    var sessionBackupAsync: Bool?

    @Option(help: "Prefix of every store key (msm: storageKeyPrefix). Env: MSM_STORAGE_KEY_PREFIX (default none)")
    var storageKeyPrefix: String?

    @Option(
        help:
            "Sticky mode: sessions kept in memory at most; the least recently used beyond are dropped from memory and reload from the store. Env: MSM_MAXIMUM_LOCAL_SESSIONS (default 10000)"
    )
    var maximumLocalSessions: Int?

    @Option(help: "trace | debug | info | notice | warning | error | critical. Env: MSM_LOG_LEVEL (default info)")
    var logLevel: String?

    @Option(
        help: "hummingbird | vapor: the web framework serving the demo app (same routes, JSON and cookies). Env: MSM_FRAMEWORK (default hummingbird)")
    var framework: String?

    @Option(
        help:
            "Event loop threads (SwiftNIO's shared group). Env: MSM_EVENT_LOOPS (default: the CPUs this process may run on, which honours taskset and CPU affinity; SwiftNIO alone counts the machine's cores)"
    )
    var eventLoops: Int?

    func run() async throws {
        LoggingSystem.bootstrap({ label, provider in DeferredMetadataLogHandler(label: label, metadataProvider: provider) }, metadataProvider: nil)
        let settings = try ServeSettings(self, environment: ProcessInfo.processInfo.environment)
        let loops = EventLoopCount.apply(requested: settings.eventLoops)
        try await DemoServer(settings: settings, eventLoops: loops).run()
    }
}

/// The flags resolved against the environment and defaults, validated.
struct ServeSettings {
    /// The web framework serving the demo app.
    enum Framework: String, CaseIterable {
        case hummingbird, vapor
    }

    var framework: Framework
    var host: String
    var port: Int
    var logLevel: Logger.Level
    var nodes: StoreNodes
    var operationTimeout: Duration
    /// A private CA for `rediss://` nodes; `nil`: the system's trust roots.
    var redisTLSAuthorityFile: String?
    /// memcached's `-Y` login, for every memcached node.
    var memcachedCredentials: MemcachedCredentials?
    /// TLS to every memcached node; `nil`: plain TCP.
    var memcachedTLS: TLSConfiguration?
    var session: SessionManagerConfiguration
    /// `--event-loops`; `nil`: sized by ``EventLoopCount``.
    var eventLoops: Int?

    init(_ command: ServeCommand, environment: [String: String]) throws {
        func value(_ flag: String?, _ variable: String) -> String? {
            flag ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 }
        }
        func number(_ flag: Int?, _ variable: String, default fallback: Int) throws -> Int {
            if let flag { return flag }
            guard let text = value(nil, variable) else { return fallback }
            guard let number = Int(text) else { throw ValidationError("\(variable)=\(text) is not a number") }
            return number
        }
        func boolean(_ flag: Bool?, _ variable: String, default fallback: Bool) throws -> Bool {
            if let flag { return flag }
            guard let text = value(nil, variable)?.lowercased() else { return fallback }
            switch text {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ValidationError("\(variable)=\(text) is not true or false")
            }
        }

        let frameworkName = value(command.framework, "MSM_FRAMEWORK") ?? "hummingbird"
        guard let framework = Framework(rawValue: frameworkName) else {
            throw ValidationError("--framework \(frameworkName): expected hummingbird or vapor")
        }
        self.framework = framework
        host = value(command.host, "MSM_HOST") ?? "127.0.0.1"
        port = try number(command.port, "MSM_PORT", default: 8081)
        guard (1...65535).contains(port) else { throw ValidationError("--port \(port) is not a TCP port") }
        let levelText = value(command.logLevel, "MSM_LOG_LEVEL") ?? "info"
        guard let level = Logger.Level(rawValue: levelText) else { throw ValidationError("--log-level \(levelText) is not a log level") }
        logLevel = level

        guard let nodeList = value(command.memcachedNodes, "MSM_MEMCACHED_NODES") else {
            throw ValidationError(
                "--memcached-nodes (or MSM_MEMCACHED_NODES) is required, e.g. m1:127.0.0.1:11211,m2:127.0.0.1:11212 "
                    + "or r1:redis://127.0.0.1:6379,r2:redis://127.0.0.1:6380"
            )
        }
        nodes = try StoreNodes(parsing: nodeList, failoverNodes: value(command.failoverNodes, "MSM_FAILOVER_NODES") ?? "")
        redisTLSAuthorityFile = value(command.redisTlsCaFile, "MSM_REDIS_TLS_CA_FILE")
        if let file = redisTLSAuthorityFile, !FileManager.default.isReadableFile(atPath: file) {
            throw ValidationError("--redis-tls-ca-file \(file) is not a readable file (a PEM certificate authority)")
        }
        let timeout = try number(command.operationTimeout, "MSM_OPERATION_TIMEOUT", default: 1000)
        guard timeout > 0 else { throw ValidationError("--operation-timeout must be positive (milliseconds)") }
        operationTimeout = .milliseconds(timeout)
        if command.eventLoops != nil || value(nil, "MSM_EVENT_LOOPS") != nil {
            let loops = try number(command.eventLoops, "MSM_EVENT_LOOPS", default: 0)
            guard (1...256).contains(loops) else { throw ValidationError("--event-loops \(loops): expected 1 to 256") }
            eventLoops = loops
        }

        var session = SessionManagerConfiguration()
        if let mode = command.mode {
            session.sticky = mode == .sticky
        } else {
            session.sticky = try boolean(nil, "MSM_STICKY", default: true)
        }
        session.route = value(command.route, "MSM_ROUTE")
        if let text = value(command.lockingMode, "MSM_LOCKING_MODE") {
            guard let mode = LockingMode(parsing: text) else {
                throw ValidationError("--locking-mode \(text): expected none, all, auto or uriPattern:<regex>")
            }
            session.lockingMode = mode
        }
        session.requestURIIgnorePattern =
            value(command.requestUriIgnorePattern, "MSM_REQUEST_URI_IGNORE_PATTERN") ?? #".*\.(ico|png|gif|jpg|css|js)$"#
        session.cookie.name = value(command.cookieName, "MSM_COOKIE_NAME") ?? "SESSIONID"
        let behindHTTPS = try boolean(command.behindHttps, "MSM_BEHIND_HTTPS", default: false)
        session.cookie.secure = try boolean(command.cookieSecure, "MSM_COOKIE_SECURE", default: behindHTTPS)
        if let sameSite = value(command.cookieSameSite, "MSM_COOKIE_SAME_SITE") {
            guard let parsed = SessionCookieConfiguration.SameSite.allCases.first(where: { $0.rawValue.lowercased() == sameSite.lowercased() }) else {
                throw ValidationError("--cookie-same-site \(sameSite): expected strict, lax or none")
            }
            session.cookie.sameSite = parsed
        }
        session.cookie.domain = value(command.cookieDomain, "MSM_COOKIE_DOMAIN")
        session.cookie.path = value(command.cookiePath, "MSM_COOKIE_PATH") ?? "/"
        session.maxInactiveInterval = .seconds(try number(command.maxInactiveInterval, "MSM_MAX_INACTIVE_INTERVAL", default: 1800))
        session.sessionBackupAsync = try boolean(command.sessionBackupAsync, "MSM_SESSION_BACKUP_ASYNC", default: false)
        session.storageKeyPrefix = value(command.storageKeyPrefix, "MSM_STORAGE_KEY_PREFIX") ?? ""
        session.maximumLocalSessions = try number(command.maximumLocalSessions, "MSM_MAXIMUM_LOCAL_SESSIONS", default: 10_000)
        guard session.maximumLocalSessions >= 1 else { throw ValidationError("--maximum-local-sessions must be at least 1") }
        session.lockTimeout = operationTimeout
        var keys = value(command.sessionEncryptionKeys, "MSM_SESSION_ENCRYPTION_KEYS")
        var keysSetting = "--session-encryption-keys (MSM_SESSION_ENCRYPTION_KEYS)"
        if let file = value(command.sessionEncryptionKeysFile, "MSM_SESSION_ENCRYPTION_KEYS_FILE") {
            guard keys == nil else { throw ValidationError("give the session encryption keys once: as a list or as a file, not both") }
            // One key per line or a comma-separated list; blank lines ignored.
            keys = try Self.contents(of: file, "--session-encryption-keys-file").split(whereSeparator: \.isNewline).map {
                $0.trimmingCharacters(in: .whitespaces)
            }.filter { !$0.isEmpty }
                .joined(separator: ",")
            keysSetting = "--session-encryption-keys-file \(file)"
        }
        if let keys {
            do {
                session.encryption = try SessionEncryption(parsing: keys)
            } catch {
                throw ValidationError("\(keysSetting): \(error)")
            }
        }
        self.session = session
        try readMemcachedSecurity(command, value: value, boolean: boolean)
    }

    /// `--memcached-username` and its password, and the `--memcached-tls*` files: checked here, so
    /// a typo is an error at start and not a node that never answers.
    private mutating func readMemcachedSecurity(
        _ command: ServeCommand,
        value: (String?, String) -> String?,
        boolean: (Bool?, String, Bool) throws -> Bool
    ) throws {
        let username = value(command.memcachedUsername, "MSM_MEMCACHED_USERNAME")
        let passwordFile = value(command.memcachedPasswordFile, "MSM_MEMCACHED_PASSWORD_FILE")
        let authorityFile = value(command.memcachedTlsCaFile, "MSM_MEMCACHED_TLS_CA_FILE")
        let certificateFile = value(command.memcachedTlsCertificateFile, "MSM_MEMCACHED_TLS_CERTIFICATE_FILE")
        let keyFile = value(command.memcachedTlsKeyFile, "MSM_MEMCACHED_TLS_KEY_FILE")
        let tlsFileGiven = authorityFile != nil || certificateFile != nil || keyFile != nil
        let usesTLS = try boolean(command.memcachedTls, "MSM_MEMCACHED_TLS", tlsFileGiven)
        if tlsFileGiven, !usesTLS {
            throw ValidationError("--memcached-tls-*-file settings need TLS: drop --memcached-tls false (MSM_MEMCACHED_TLS)")
        }
        guard case .memcached = nodes else {
            if username != nil || usesTLS {
                throw ValidationError(
                    "--memcached-username and --memcached-tls* apply to memcached nodes; a Redis node takes them in its URL: rediss://user:password@host:port"
                )
            }
            return
        }
        var password = value(nil, "MSM_MEMCACHED_PASSWORD")
        if let passwordFile {
            guard password == nil else {
                throw ValidationError("give the memcached password once: MSM_MEMCACHED_PASSWORD or --memcached-password-file")
            }
            // Swift reads "\r\n" as one Character: split on any newline, so a CRLF file works too.
            password = try Self.contents(of: passwordFile, "--memcached-password-file")
                .split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: \.isNewline).first.map(String.init)
        }
        if let username {
            guard let password, !password.isEmpty else {
                throw ValidationError("--memcached-username needs a password: set MSM_MEMCACHED_PASSWORD or --memcached-password-file")
            }
            do {
                memcachedCredentials = try MemcachedCredentials(username: username, password: password)
            } catch {
                throw ValidationError("--memcached-username / its password: \(error.message)")
            }
        } else if password != nil {
            throw ValidationError("a memcached password is set but --memcached-username (MSM_MEMCACHED_USERNAME) is not")
        }
        guard usesTLS else { return }
        var tls = TLSConfiguration.makeClientConfiguration()
        for (flag, file) in [
            ("--memcached-tls-ca-file", authorityFile), ("--memcached-tls-certificate-file", certificateFile), ("--memcached-tls-key-file", keyFile),
        ] {
            if let file, !FileManager.default.isReadableFile(atPath: file) { throw ValidationError("\(flag) \(file) is not a readable file") }
        }
        if let authorityFile { tls.trustRoots = .file(authorityFile) }
        switch (certificateFile, keyFile) {
        case (let certificateFile?, let keyFile?):
            do {
                tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
                tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw ValidationError("--memcached-tls-certificate-file / --memcached-tls-key-file cannot be loaded: \(error)")
            }
        case (nil, nil): break
        default: throw ValidationError("--memcached-tls-certificate-file and --memcached-tls-key-file go together")
        }
        memcachedTLS = tls
    }

    /// A settings file's text, or an error naming the flag.
    private static func contents(of file: String, _ flag: String) throws -> String {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("\(flag) \(file) is not a readable file") }
        return text
    }

    /// What `msm serve` warns about at start: secrets or sessions that would cross a network
    /// unprotected. Only a node that is not loopback counts: whoever can reach it can read
    /// whatever is not encrypted.
    var startupWarnings: [String] {
        guard nodes.hosts.contains(where: { !ServerAddressRules.isLoopback($0) }) else { return [] }
        var warnings: [String] = []
        if session.encryption == nil {
            warnings.append(
                "sessions are stored unencrypted on a store reached over the network: anyone who can reach it can read and forge them; "
                    + "set --session-encryption-keys (MSM_SESSION_ENCRYPTION_KEYS), see `msm new-encryption-key`")
        }
        if memcachedCredentials != nil, memcachedTLS == nil {
            warnings.append(
                "the memcached password crosses the network unencrypted on every new connection: start memcached with -Z and set --memcached-tls true"
            )
        }
        return warnings
    }
}

/// The session store nodes of `--memcached-nodes`: one setting for both backends, as msm's
/// `memcachedNodes` takes Redis URLs too.
enum StoreNodes: Sendable {
    case memcached(MemcachedNodeList)
    case redis(RedisNodeList)

    /// Picks the backend by the entries' form: URLs (`redis://`) mean Redis, `host:port` memcached;
    /// a list mixing both is refused. Errors name the flags and never a password (the node list
    /// redacts credentials in what it quotes).
    init(parsing nodeList: String, failoverNodes: String) throws {
        let isRedis = SessionNodeListSyntax.namesURLs(nodeList)
        do {
            // The node list alone first, so its errors are not blamed on the failover list.
            _ = isRedis ? try RedisNodeList(parsing: nodeList).nodes.count : try MemcachedNodeList(parsing: nodeList).nodes.count
        } catch {
            throw ValidationError("--memcached-nodes (MSM_MEMCACHED_NODES): \(error)")
        }
        do {
            if isRedis {
                self = .redis(try RedisNodeList(parsing: nodeList, failoverNodes: failoverNodes))
            } else {
                self = .memcached(try MemcachedNodeList(parsing: nodeList, failoverNodes: failoverNodes))
            }
        } catch {
            throw ValidationError("--failover-nodes (MSM_FAILOVER_NODES): \(error)")
        }
    }

    /// `memcached` or `redis`, for the startup log and the demo page.
    var backend: String {
        switch self {
        case .memcached: "memcached"
        case .redis: "redis"
        }
    }

    /// Every node in list syntax, Redis passwords shown as `***`: safe to log.
    var descriptions: [String] {
        switch self {
        case .memcached(let list): list.nodes.map(\.description)
        case .redis(let list): list.nodes.map(\.description)
        }
    }

    /// Every node's host name or address.
    var hosts: [String] {
        switch self {
        case .memcached(let list): list.nodes.map(\.address.host)
        case .redis(let list): list.nodes.map(\.address.host)
        }
    }

    var failoverNodeIDs: [String] {
        switch self {
        case .memcached(let list): list.failoverNodeIDs
        case .redis(let list): list.failoverNodeIDs
        }
    }

    func isFailoverNode(id: String) -> Bool {
        failoverNodeIDs.contains(id)
    }
}
