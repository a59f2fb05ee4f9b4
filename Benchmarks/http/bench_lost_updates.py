"""Concurrent writers on one session: how many of their increments survive.

Every writer sends `GET /myapp/` (visits + 1) with the same session cookie, all at once; at the
end the session's `visits` must equal one (the creating request) plus every answered increment.
A session manager that lets two requests read the same `visits` and both write it back loses
the difference (Vapor's FluentSessions and MemorySessions do; msm with locking `all` must not)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bench_common import *  # noqa: F401,F403
from bench_http import *  # noqa: F401,F403

WRITERS = 8
INCREMENTS_PER_WRITER = 25


@dataclass
class LostUpdates:
    writers: int
    increments_sent: int
    answered_ok: int  # 200: the server says it counted the visit
    final_visits: int

    @property
    def expected_visits(self) -> int:
        return 1 + self.answered_ok  # the creating request counted the first

    @property
    def lost(self) -> int:
        return self.expected_visits - self.final_visits


def parse_visits(body: bytes) -> int:
    """`GET /myapp/attributes/visits` answers the number as text (msm: its JSON, Vapor: the string)."""
    text = body.decode("utf-8", "replace").strip().strip('"')
    try:
        return int(text)
    except ValueError:
        raise ScenarioError(f"GET /myapp/attributes/visits answered {body[:100]!r}, not a number") from None


def count_lost_updates(port: int, writers: int = WRITERS, increments: int = INCREMENTS_PER_WRITER) -> LostUpdates:
    """One new session, then `writers` threads x `increments` GET /myapp/ on it at once."""
    creator = HttpClient(port)
    try:
        created = creator.request("GET", "/myapp/", {"Accept": "application/json"})
        cookie = session_cookie(created.header_values("Set-Cookie"))
        if created.status != 200 or cookie is None:
            raise ScenarioError(f"creating the session: GET /myapp/ answered {created.status} with cookie {cookie}")
    finally:
        creator.close()

    ok_counts = [0] * writers
    failures: list[str] = []
    start = threading.Barrier(writers)

    def write(index: int) -> None:
        client = HttpClient(port)
        try:
            start.wait(timeout=30)
            for _ in range(increments):
                reply = client.request("GET", "/myapp/", {"Cookie": cookie, "Accept": "application/json"})
                if reply.status == 200:
                    ok_counts[index] += 1
                elif len(failures) < 5:
                    failures.append(f"{reply.status} {reply.body[:80]!r}")
        except (OSError, threading.BrokenBarrierError) as error:
            failures.append(f"{type(error).__name__}: {error}")
        finally:
            client.close()

    threads = [threading.Thread(target=write, args=(index,), daemon=True) for index in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if any(thread.is_alive() for thread in threads):
        raise ScenarioError("concurrent writers did not finish within 120 s")
    if failures:
        progress(f"  some increments were not answered 200 (not counted as sent): {'; '.join(failures[:5])}")

    reader = HttpClient(port)
    try:
        final = reader.request("GET", "/myapp/attributes/visits", {"Cookie": cookie})
    finally:
        reader.close()
    if final.status != 200:
        raise ScenarioError(f"reading visits after the writers: {final.status} {final.body[:100]!r}")
    return LostUpdates(writers=writers, increments_sent=writers * increments, answered_ok=sum(ok_counts),
                       final_visits=parse_visits(final.body))
