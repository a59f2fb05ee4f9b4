// The README's RedisClient example, verbatim (scripts/check-readme-snippets.py checks it).
// Built by `make test`; run it against a Redis on 127.0.0.1:6380 with that user to see it work.
// snippet: redis-client
import NIOCore
import RedisClient

let r2 = try RedisClient(server: RedisServer(url: "redis://app:s3cret@127.0.0.1:6380/2"))  // add it to your ServiceGroup

try await r2.set("greeting", value: ByteBuffer(string: "hello"), expiration: .seconds(1800))
let value = try await r2.get("greeting")  // ByteBuffer?
let isMine = try await r2.set("lock:abc", value: ByteBuffer(string: "owner-token"), expiration: .seconds(5), condition: .ifNotExists)
if isMine { try await r2.delete("lock:abc", ifValueIs: ByteBuffer(string: "owner-token")) }
// end snippet
print("greeting: \(value.map { String(buffer: $0) } ?? "-")")
await r2.shutdown()
