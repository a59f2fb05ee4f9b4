import Foundation
import Glibc

/// Free TCP ports on 127.0.0.1.
public enum FreeLoopbackPort {
    /// Binds a TCP socket to 127.0.0.1:0, reads the port the kernel chose and closes the socket.
    public static func allocate() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestServerError.posix("socket") }
        defer { close(descriptor) }
        var address = LoopbackSocket.address(host: "127.0.0.1", port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw TestServerError.posix("bind 127.0.0.1:0") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard named == 0 else { throw TestServerError.posix("getsockname") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A failure starting, finding or talking to a test server.
public struct TestServerError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, fit for a test failure message.
    public let message: String
    /// Wraps `message`.
    public init(_ message: String) { self.message = message }
    /// The ``message``.
    public var description: String { message }

    static func posix(_ what: String) -> TestServerError {
        let code = errno
        return TestServerError("\(what) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}

/// Plain blocking TCP to loopback, for readiness probes, `stats` and raw Redis commands.
///
/// Deliberately independent of the clients under test: a probe must not fail (or pass) because of
/// the code it is meant to check.
enum LoopbackSocket {
    /// How long a connect, send or receive may block by default.
    static let defaultTimeout: Duration = .seconds(5)

    static func address(host: String, port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        _ = inet_pton(AF_INET, host, &address.sin_addr)
        return address
    }

    /// A connected socket whose send/receive calls give up after `timeout`, or nil if the connect failed.
    static func connect(host: String, port: Int, timeout: Duration = defaultTimeout) -> Int32? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        let (seconds, attoseconds) = timeout.components
        var interval = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if interval.tv_sec == 0 && interval.tv_usec == 0 { interval.tv_usec = 1 }  // 0 would mean "never"
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        var address = address(host: host, port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    static func canConnect(host: String, port: Int) -> Bool {
        guard let descriptor = connect(host: host, port: port) else { return false }
        close(descriptor)
        return true
    }

    /// Sends `request` and reads until the reply ends with `terminator`.
    static func request(_ request: String, host: String, port: Int, terminator: String) throws -> String {
        let end = Array(terminator.utf8)
        let reply = try exchange(Array(request.utf8), host: host, port: port) { reply in
            reply.count >= end.count && reply.suffix(end.count).elementsEqual(end)
        }
        return String(decoding: reply, as: UTF8.self)
    }

    /// Sends `request` on a fresh connection and reads until `isComplete` accepts the bytes received
    /// so far; throws when the peer closes first or stays silent for `timeout`.
    static func exchange(
        _ request: [UInt8],
        host: String,
        port: Int,
        timeout: Duration = defaultTimeout,
        isComplete: ([UInt8]) -> Bool
    ) throws -> [UInt8] {
        guard let descriptor = connect(host: host, port: port, timeout: timeout) else {
            throw TestServerError.posix("connect to \(host):\(port)")
        }
        defer { close(descriptor) }
        var sent = 0
        while sent < request.count {
            let count = request.withUnsafeBytes {
                send(descriptor, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw TestServerError.posix("send to \(host):\(port)")
            }
            sent += count
        }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while !isComplete(reply) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress!, $0.count, 0) }
            if count < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN || errno == EWOULDBLOCK {
                    throw TestServerError("no reply from \(host):\(port) within \(timeout) (is the server suspended?)")
                }
                throw TestServerError.posix("receive from \(host):\(port)")
            }
            if count == 0 {
                throw TestServerError("\(host):\(port) closed the connection before the reply was complete")
            }
            reply += buffer[0..<count]
        }
        return reply
    }
}

/// Retries `body` until it succeeds, for at most `limit`, rethrowing its last error: a client's
/// recovery after a node returns is asynchronous.
public func retryUntilSuccess(within limit: Duration = .seconds(10), _ body: () async throws -> Void) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while true {
        do { return try await body() } catch {
            if clock.now >= deadline { throw error }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

/// Which process listens on a loopback TCP port, read from `/proc` (Linux): for servers that
/// cannot be asked over plain TCP (TLS only, or authentication first).
public enum ListeningSocketOwner {
    /// The process holding the socket that listens on `port` (IPv4), or `nil`.
    public static func pid(listeningOn port: Int) -> Int32? {
        guard let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) else { return nil }
        let portSuffix = ":" + String(format: "%04X", port)
        var sockets: Set<String> = []
        for line in table.split(separator: "\n").dropFirst() {
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[3] == "0A", fields[1].hasSuffix(portSuffix) else { continue }
            sockets.insert("socket:[\(fields[9])]")
        }
        guard !sockets.isEmpty, let processes = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for process in processes {
            guard let pid = Int32(process),
                let descriptors = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
            else { continue }
            for descriptor in descriptors {
                if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(descriptor)"),
                    sockets.contains(target)
                {
                    return pid
                }
            }
        }
        return nil
    }
}
