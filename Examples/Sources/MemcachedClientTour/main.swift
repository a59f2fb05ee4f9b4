// The README's MemcachedClient example, verbatim (scripts/check-readme-snippets.py checks it).
// Built by `make test`; run it against a memcached on 127.0.0.1:11212 to see it work.
// snippet: memcached-client
import MemcachedClient
import NIOCore

let m2 = try MemcachedClient(server: MemcachedServer(parsing: "127.0.0.1:11212"))  // add it to your ServiceGroup

try await m2.set(MemcachedKey("greeting"), value: ByteBuffer(string: "hello"), expiration: .seconds(1800))
if let item = try await m2.get(MemcachedKey("greeting")) {
    // item.value, item.flags, item.cas, item.timeToLive
    switch try await m2.store(MemcachedKey("greeting"), value: ByteBuffer(string: "hi"), cas: item.cas) {
    case .stored: break  // nobody wrote in between
    case .exists: break  // lost the race: re-read and retry
    default: break
    }
}
let isMine = try await m2.add(MemcachedKey("lock:abc"), value: ByteBuffer(string: "owner"), expiration: .seconds(5))
// end snippet
print("lock taken: \(isMine)")
await m2.shutdown()
