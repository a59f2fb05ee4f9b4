import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A deliberately plain HTTP/1.1 client over a loopback socket: every header, every
/// `Set-Cookie`, exactly as the server sent them.
struct HTTPReply: CustomStringConvertible {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: String

    func header(_ name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    /// The value the response sets for cookie `name`, if it sets it.
    func setCookie(_ name: String) -> String? {
        for header in header("Set-Cookie") where header.hasPrefix("\(name)=") {
            return String(header.dropFirst(name.count + 1).prefix { $0 != ";" })
        }
        return nil
    }

    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
    }

    var description: String { "\(status) \(headers.map { "\($0.name): \($0.value)" }.joined(separator: "; ")) \(body.prefix(300))" }
}

enum HTTPTestClient {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func request(
        _ method: String = "GET", port: Int, path: String, cookie: String? = nil, accept: String = "application/json", body: String = ""
    ) throws -> HTTPReply {
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: \(accept)\r\nConnection: close\r\n"
        if let cookie { request += "Cookie: \(cookie)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let raw = try exchange(port: port, Array(request.utf8))
        guard let split = raw.range(of: "\r\n\r\n") else { throw Failure(description: "no header end in reply: \(raw.prefix(200))") }
        let lines = raw[..<split.lowerBound].components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { throw Failure(description: "bad status line \(lines[0])") }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return HTTPReply(status: status, headers: headers, body: String(raw[split.upperBound...]))
    }

    /// memcached's `stats` counters on a loopback port.
    static func memcachedStats(port: Int) throws -> [String: Int] {
        let raw = try exchange(port: port, Array("stats\r\nquit\r\n".utf8))
        var stats: [String: Int] = [:]
        for line in raw.components(separatedBy: "\r\n") {
            let parts = line.split(separator: " ")
            if parts.count == 3, parts[0] == "STAT", let value = Int(parts[2]) { stats[String(parts[1])] = value }
        }
        return stats
    }

    /// Redis's `INFO commandstats` as calls per command (`get`, `set`, `eval`...), without the
    /// `info` and `quit` this very check sends.
    static func redisCommandCalls(port: Int) throws -> [String: Int] {
        // Inline commands: the reply is one bulk string, then +OK, then the server closes.
        let raw = try exchange(port: port, Array("INFO commandstats\r\nQUIT\r\n".utf8))
        var calls: [String: Int] = [:]
        for line in raw.components(separatedBy: "\r\n") where line.hasPrefix("cmdstat_") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let command = String(line[line.index(line.startIndex, offsetBy: 8)..<colon])
            guard command != "info", command != "quit" else { continue }
            let fields = line[line.index(after: colon)...].split(separator: ",")
            if let value = fields.first(where: { $0.hasPrefix("calls=") }).flatMap({ Int($0.dropFirst(6)) }) {
                calls[command] = value
            }
        }
        return calls
    }

    private static func exchange(port: Int, _ bytes: [UInt8]) throws -> String {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket failed") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard connected else { throw Failure(description: "cannot connect to 127.0.0.1:\(port)") }
        guard send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw Failure(description: "send failed") }
        var reply: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count < 0 { throw Failure(description: "no reply from 127.0.0.1:\(port) within 10 s") }
            if count == 0 { break }
            reply += buffer[0..<count]
        }
        return String(decoding: reply, as: UTF8.self)
    }
}
