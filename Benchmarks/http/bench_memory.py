"""Memory of sticky sessions: how much the server's resident set grows per session held, against
the size of one session as stored (issue 13: at most twice the serialized size)."""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

from bench_common import *  # noqa: F401,F403
from bench_http import *  # noqa: F401,F403
from bench_stores import *  # noqa: F401,F403

MEMORY_SESSIONS = 100_000
ATTRIBUTE_BYTES = 1024
WARMUP_SESSIONS = 2_000  # allocator pools and caches settle before the first reading
WRITER_THREADS = 4


@dataclass
class MemoryUse:
    sessions: int
    rss_before_kib: int
    rss_after_kib: int
    stored_bytes: int  # one session as the store holds it (a sampled copy's value length)

    @property
    def growth_per_session(self) -> float:
        return (self.rss_after_kib - self.rss_before_kib) * 1024 / self.sessions

    @property
    def ratio(self) -> float:
        return self.growth_per_session / self.stored_bytes if self.stored_bytes else float("nan")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise ScenarioError(f"no VmRSS for pid {pid}")


def create_sessions_with_attribute(port: int, count: int, size: int = ATTRIBUTE_BYTES, threads: int = WRITER_THREADS) -> None:
    """`count` new sessions, each by PUT /myapp/attributes/blob with `size` bytes (no cookie: a
    new session per request)."""
    body = b"x" * size
    failures: list[str] = []

    def write(share: int) -> None:
        client = HttpClient(port)
        try:
            for _ in range(share):
                reply = client.request("PUT", "/myapp/attributes/blob", {"Content-Type": "text/plain"}, body)
                if reply.status not in (200, 204) and len(failures) < 5:
                    failures.append(f"{reply.status} {reply.body[:80]!r}")
        except OSError as error:
            failures.append(f"{type(error).__name__}: {error}")
        finally:
            client.close()

    shares = [count // threads + (1 if index < count % threads else 0) for index in range(threads)]
    workers = [threading.Thread(target=write, args=(share,), daemon=True) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
    if failures or any(worker.is_alive() for worker in workers):
        raise ScenarioError(f"creating {count} sessions failed: {'; '.join(failures) or 'writers did not finish in 600 s'}")


def stored_session_bytes(nodes: Sequence[StoreNode]) -> int:
    """The value length of one stored session copy, read back from the store."""
    node = nodes[0]
    if node.store == "redis":
        cursor, keys = redis_command(node.port, "SCAN", "0", "COUNT", "100")
        key = next((k for k in keys if b"lock" not in k), None) if keys else None
        if key is None:
            raise ScenarioError("no session key found in redis-server r1")
        return int(redis_command(node.port, "STRLEN", key.decode()))
    dump = memcached_command(node.port, "lru_crawler metadump all", b"END\r\n", timeout=30)
    for line in dump.splitlines():
        if line.startswith("key="):
            key = urllib.parse.unquote(line.split()[0][4:])
            reply = memcached_command(node.port, f"mg {key} s", b"\r\n").split()
            if len(reply) >= 2 and reply[0] == "HD" and reply[1].startswith("s"):
                return int(reply[1][1:])
    raise ScenarioError("no session key found in memcached m1 (lru_crawler metadump all)")


def measure_memory(port: int, pid: int, nodes: Sequence[StoreNode], sessions: int = MEMORY_SESSIONS) -> MemoryUse:
    create_sessions_with_attribute(port, WARMUP_SESSIONS)
    time.sleep(0.5)
    before = rss_kib(pid)
    create_sessions_with_attribute(port, sessions)
    time.sleep(1.0)
    return MemoryUse(sessions=sessions, rss_before_kib=before, rss_after_kib=rss_kib(pid), stored_bytes=stored_session_bytes(nodes))
