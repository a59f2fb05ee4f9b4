#!/usr/bin/env python3
"""HTTP benchmark of `msm serve`: wrk against the demo app on loopback, in one run.

Usage
-----
    swift build -c release --product msm          # once; the benchmark never builds
    Benchmarks/http/run.py                         # all scenarios, 64 connections, 5 s each
    Benchmarks/http/run.py --duration 2 --sessions 100 --scenarios baseline,sticky-read
    Benchmarks/http/run.py --stores redis          # only the Redis rows (default: memcached,redis)
    Benchmarks/http/run.py --json /tmp/bench.json  # also write the results as JSON
    Benchmarks/http/run.py --rounds 3 --scenarios sticky-write-1kb,sticky-write-1kb-encrypted  # A/B, medians
    Benchmarks/http/run.py --help                  # every option

Needs (Debian packages): memcached, redis-server, nginx, wrk; python3 >= 3.11 (standard library
only).
`scripts/install-deps.sh bench` installs them. Only loopback ports are used, every port is
picked free by the script, every process it starts is stopped again (also on Ctrl-C).

What one run does
-----------------
1. Per store (--stores, memcached then redis): starts two memcached (m1, m2) or two
   redis-server (r1, r2, no persistence) on free loopback ports, runs every scenario against
   them (2.-4.), then stops them. The baseline does no session work, so it runs once, with the
   first store.
2. Per scenario: starts `msm serve` (routes A, and B behind nginx for `nginx-2-servers`)
   against them with `--failover-nodes m1` (r1), waits for `GET /health`, creates --sessions
   distinct sessions with `GET /myapp/` (Accept: application/json) and collects their cookies.
3. Runs `wrk -t 1 -c C -d D --latency` with a generated Lua script: every request carries the
   next cookie of the (once shuffled) list, round robin over all sessions, and
   `Accept: application/json`.
   The baseline sends a dummy header of the same size instead, so wrk does the same work
   per request in every scenario. A 1 s warm-up run (--warmup) precedes each measurement.
4. Stops the servers and flushes the store (memcached flush_all, Redis FLUSHALL) before the
   next scenario.
5. Prints a header line and a Markdown table with a store column (stdout); progress goes to
   stderr.

Scenarios
---------
    baseline               GET /health on a sticky server: no session work at all
    sticky-read            sticky, GET /myapp/attributes/visits: reads, changes nothing
    sticky-write           sticky, GET /myapp/: `visits` changes on every request
    sticky-write-async     the same with --session-backup-async true (stored after the response)
    nonsticky-write        --non-sticky --locking-mode none, GET /myapp/
    nonsticky-locking-all  --non-sticky --locking-mode all, GET /myapp/ (with many
                           sessions and C connections lock contention is low)
    sticky-write-1kb       sticky-write on sessions that also hold a 1 KB attribute (PUT once
                           per session while creating them), so every store writes ~1.1 KB
    sticky-write-1kb-encrypted   the same with MSM_SESSION_ENCRYPTION_KEYS (a random key per
                           run): every write is sealed with AES-256-GCM (issue 14)
    nonsticky-write-1kb    nonsticky-write on 1 KB sessions; every request reads and writes it
    nonsticky-write-1kb-encrypted   the same, encrypted: every request opens and seals it
    nginx-2-servers        nginx round robin (upstream keepalive) in front of two sticky
                           servers A and B, GET /myapp/; sessions are created through nginx
                           (so alternately on A and B). wrk never updates its cookies; the
                           shuffled cookie order makes about half of the requests land on
                           the server whose route is not in the cookie, which then loads the
                           session from the store (the takeover of the seed's topology).
    vapor-*                the same app on Vapor (`msm serve --framework vapor`): baseline
                           (Vapor's GET /health), sticky-read, sticky-write, nonsticky-write,
                           nonsticky-locking-all; their ratios are to vapor-baseline.
    vapor-stock-*          the counter page behind Vapor's own SessionsMiddleware
                           (Benchmarks/VaporSessionsBaseline, --vapor-baseline): with Vapor's
                           MemorySessions (one process, not shared), FluentSessions on
                           PostgreSQL (a throw-away cluster the benchmark starts, durability
                           off), and our DistributedSessionDriver (the drop-in path, per store).
    sticky-memory          not throughput: 100,000 sessions with a 1 KB attribute created on one
                           sticky server (PUT /myapp/attributes/blob), its RSS before and after
                           against one session's stored size (read back from the store).
    lost-updates-*         not throughput: 8 writers x 25 increments at once on ONE session
                           through nginx in front of two servers (MemorySessions: one server),
                           then the session's visits are compared with the increments answered
                           200. Ours with locking all and none, FluentSessions, MemorySessions.

Pinning (--pin, default when `taskset` exists and nproc >= 2): memcached or redis-server, msm
and nginx run on CPU 0, wrk on CPU 1, so the load generator does not steal the servers' CPU.

Output columns: req/s (wrk's Requests/sec), p50/p99 latency in ms (wrk --latency), the ratio
of req/s to the baseline's, and errors (wrk's non-2xx/3xx responses and socket errors). The
JSON file (--json) also holds store commands per request, both nodes (memcached: get+set+
touch+delete from `stats`; Redis: every command's calls from `INFO commandstats` except the
benchmark's own INFO/FLUSHALL/PING, where the DEL inside a lock release's EVALSHA counts too)
and the exact commands run.

Exit status: 0 when every scenario ran; 1 when one failed (its reason is printed; a scenario
also fails when more than --max-error-rate of its requests were errors, and a store whose
nodes do not start fails its scenarios); 2 for a usage or setup error (missing binary); 130
when interrupted.

Tests of the parts that need no running msm: `python3 Benchmarks/http/test_run.py`.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

# The parts, one concern each; their names are this module's too (test_run.py uses run.X).
from bench_common import *  # noqa: F401,F403
from flamegraph import flame_graph
from bench_http import *  # noqa: F401,F403
from bench_lost_updates import *  # noqa: F401,F403
from bench_memory import *  # noqa: F401,F403
from bench_postgres import *  # noqa: F401,F403
from bench_processes import *  # noqa: F401,F403
from bench_stores import *  # noqa: F401,F403
from bench_wrk import *  # noqa: F401,F403

SCRIPT_PATH = Path(__file__).resolve()
REPO_ROOT = SCRIPT_PATH.parents[2]
DEFAULT_MSM = Path(".build/release/msm")
DEFAULT_VAPOR_BASELINE = Path("Benchmarks/VaporSessionsBaseline/.build/release/VaporSessionsBaseline")
SERVER_CPU = 0
WRK_CPU = 1
# The ratio goals of issue 4 (item 5): scenario -> minimum req/s relative to the baseline.
GOALS: dict[str, float] = {
    "sticky-read": 0.9,
    "sticky-write": 0.65,
    "sticky-write-async": 0.8,  # issue 13
    "nonsticky-write": 0.5,
    "nonsticky-locking-all": 0.4,
    # Issue 12: the Vapor middleware against a plain Vapor route of the same server.
    "vapor-sticky-read": 0.9,
    "vapor-nonsticky-write": 0.5,
}
MEMORY_GOAL = 2.0  # issue 13: RSS growth per sticky session <= 2x its stored size
# Issue 12: ours (middleware, counter page) against Vapor's own drivers: (ours, theirs, minimum ratio).
CROSS_GOALS: tuple[tuple[str, str, float], ...] = (
    ("vapor-sticky-write", "vapor-stock-fluentsessions", 15.0),
    ("vapor-sticky-write", "vapor-stock-memorysessions", 1.0),
    ("vapor-nonsticky-write", "vapor-stock-fluentsessions", 15.0),
    ("vapor-nonsticky-write", "vapor-stock-memorysessions", 1.0),
)
# Issue 14: encrypted sessions against the same scenario unencrypted, on the same store (ratio minimum).
ENCRYPTION_GOALS: tuple[tuple[str, str, float], ...] = (
    ("sticky-write-1kb-encrypted", "sticky-write-1kb", 0.95),
    ("nonsticky-write-1kb-encrypted", "nonsticky-write-1kb", 0.95),
)
# The key of the encrypted scenarios: random per run, passed in the environment only.
ENCRYPTION_KEY = base64.b64encode(os.urandom(32)).decode()
# The session stores `msm serve` runs on, in the order they are benchmarked.
STORES = ("memcached", "redis")


# --------------------------------------------------------------------------------------------
# Scenarios and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    path: str  # the benchmarked request path
    serve_args: tuple[str, ...]  # mode flags for `msm serve`
    routes: tuple[str, ...] = ("A",)  # one server per route; more than one means nginx in front
    uses_sessions: bool = True
    read_only: bool = False  # sticky-read: pick an attribute that exists, read only that
    baseline: str = "baseline"  # the scenario its ratio is taken against: the same framework's /health
    # What serves it: `msm serve`, or Vapor's SessionsMiddleware with a driver
    # (Benchmarks/VaporSessionsBaseline --sessions memory|fluent|distributed).
    server: str = "msm"
    counts_lost_updates: bool = False  # concurrent writers on one session instead of wrk
    measures_memory: bool = False  # resident memory per sticky session instead of wrk
    session_bytes: int = 0  # a `blob` attribute of this size put into every session when it is created
    encrypted: bool = False  # msm serve with MSM_SESSION_ENCRYPTION_KEYS

    @property
    def uses_store(self) -> bool:
        """Measured once per store (memcached, Redis); the others run once."""
        return self.uses_sessions and self.server in ("msm", "vapor-distributed")

    @property
    def vapor_driver(self) -> str | None:
        """`--sessions` of VaporSessionsBaseline, None for `msm serve`."""
        return self.server.removeprefix("vapor-") if self.server.startswith("vapor-") else None

    @property
    def behind_nginx(self) -> bool:
        return len(self.routes) > 1


STICKY = ("--sticky",)
VAPOR = ("--framework", "vapor")
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("baseline", "GET /health, no session", "/health", STICKY, uses_sessions=False),
    Scenario("sticky-read", "sticky, reads an attribute", "/myapp/attributes/visits", STICKY, read_only=True),
    Scenario("sticky-write", "sticky, GET /myapp/ (visits changes)", "/myapp/", STICKY),
    Scenario("sticky-write-async", "sticky, GET /myapp/, stored after the response", "/myapp/",
             STICKY + ("--session-backup-async", "true")),
    Scenario("nonsticky-write", "non-sticky, locking none", "/myapp/", ("--non-sticky", "--locking-mode", "none")),
    Scenario("nonsticky-locking-all", "non-sticky, locking all", "/myapp/", ("--non-sticky", "--locking-mode", "all")),
    # Issue 14: what encryption costs on a 1 KB session, next to the same scenario without it.
    Scenario("sticky-write-1kb", "sticky, GET /myapp/, 1 KB session", "/myapp/", STICKY, session_bytes=ATTRIBUTE_BYTES),
    Scenario("sticky-write-1kb-encrypted", "the same, encrypted (AES-256-GCM)", "/myapp/", STICKY,
             session_bytes=ATTRIBUTE_BYTES, encrypted=True),
    Scenario("nonsticky-write-1kb", "non-sticky, locking none, 1 KB session", "/myapp/", ("--non-sticky", "--locking-mode", "none"),
             session_bytes=ATTRIBUTE_BYTES),
    Scenario("nonsticky-write-1kb-encrypted", "the same, encrypted (AES-256-GCM)", "/myapp/",
             ("--non-sticky", "--locking-mode", "none"), session_bytes=ATTRIBUTE_BYTES, encrypted=True),
    Scenario("nginx-2-servers", "nginx round robin, 2 sticky servers", "/myapp/", STICKY, routes=("A", "B")),
    # The same app served by Vapor (`msm serve --framework vapor`), against Vapor's own /health.
    Scenario("vapor-baseline", "Vapor: GET /health, no session", "/health", STICKY + VAPOR, uses_sessions=False,
             baseline="vapor-baseline"),
    Scenario("vapor-sticky-read", "Vapor: sticky, reads an attribute", "/myapp/attributes/visits", STICKY + VAPOR,
             read_only=True, baseline="vapor-baseline"),
    Scenario("vapor-sticky-write", "Vapor: sticky, GET /myapp/", "/myapp/", STICKY + VAPOR, baseline="vapor-baseline"),
    Scenario("vapor-nonsticky-write", "Vapor: non-sticky, locking none", "/myapp/",
             ("--non-sticky", "--locking-mode", "none") + VAPOR, baseline="vapor-baseline"),
    Scenario("vapor-nonsticky-locking-all", "Vapor: non-sticky, locking all", "/myapp/",
             ("--non-sticky", "--locking-mode", "all") + VAPOR, baseline="vapor-baseline"),
    # Vapor's own SessionsMiddleware, unchanged app code, three drivers.
    Scenario("vapor-stock-memorysessions", "Vapor SessionsMiddleware + MemorySessions (not shared)", "/myapp/", (),
             baseline="vapor-baseline", server="vapor-memory"),
    Scenario("vapor-stock-fluentsessions", "Vapor SessionsMiddleware + FluentSessions, PostgreSQL", "/myapp/", (),
             baseline="vapor-baseline", server="vapor-fluent"),
    Scenario("vapor-stock-distributed-driver", "Vapor SessionsMiddleware + our SessionDriver", "/myapp/", (),
             baseline="vapor-baseline", server="vapor-distributed"),
    # Concurrent writers on one session: increments lost.
    Scenario("lost-updates-locking-all", "ours (Vapor), non-sticky, locking all, 2 servers", "/myapp/",
             ("--non-sticky", "--locking-mode", "all") + VAPOR, routes=("A", "B"), counts_lost_updates=True),
    Scenario("lost-updates-locking-none", "ours (Vapor), non-sticky, locking none, 2 servers", "/myapp/",
             ("--non-sticky", "--locking-mode", "none") + VAPOR, routes=("A", "B"), counts_lost_updates=True),
    Scenario("lost-updates-fluentsessions", "Vapor FluentSessions, 2 servers", "/myapp/", (), routes=("A", "B"),
             server="vapor-fluent", counts_lost_updates=True),
    Scenario("lost-updates-memorysessions", "Vapor MemorySessions, 1 server", "/myapp/", (), server="vapor-memory",
             counts_lost_updates=True),
    # Issue 13: 100,000 sticky sessions of 1 KB held by one server.
    Scenario("sticky-memory", "sticky, RSS growth per 1 KB session held", "/myapp/attributes/blob",
             STICKY + ("--maximum-local-sessions", "200000"), measures_memory=True),
)
SCENARIO_NAMES = tuple(s.name for s in SCENARIOS)
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}


@dataclass
class ScenarioResult:
    scenario: str
    ok: bool
    reason: str | None = None
    store: str = "memcached"
    path: str | None = None
    wrk: WrkResult | None = None
    ratio_to_baseline: float | None = None
    store_commands_per_request: float | None = None
    store_counters: dict[str, int] = field(default_factory=dict)
    lost_updates: LostUpdates | None = None
    memory: MemoryUse | None = None
    notes: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)


@dataclass
class Config:
    msm: Path
    vapor_baseline: Path | None  # only when a vapor-stock-* or Vapor lost-updates scenario runs
    memcached: str | None
    redis_server: str | None
    stores: tuple[str, ...]
    wrk: str
    nginx: str | None
    connections: int
    duration: int
    warmup: int
    sessions: int
    scenarios: tuple[Scenario, ...]
    pin: bool
    json_path: Path | None
    max_error_rate: float
    startup_timeout: float
    keep_temp: bool
    verbose: bool
    profile_dir: Path | None = None  # --profile: a flame graph (SVG) per measured scenario
    rounds: int = 1  # --rounds: the scenario list run this many times per store, the median kept


# --------------------------------------------------------------------------------------------
# Arguments and tools
# --------------------------------------------------------------------------------------------


def scenario_list(text: str) -> tuple[Scenario, ...]:
    """Parses `--scenarios a,b`: known names only, in the canonical order, no duplicates."""
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in SCENARIO_NAMES]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"unknown scenario {', '.join(unknown) or '(none given)'}; choose from {', '.join(SCENARIO_NAMES)}"
        )
    return tuple(s for s in SCENARIOS if s.name in wanted)


def store_list(text: str) -> tuple[str, ...]:
    """Parses `--stores a,b`: known stores only, in the canonical order, no duplicates."""
    wanted = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in STORES]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"unknown store {', '.join(unknown) or '(none given)'}; choose from {', '.join(STORES)}"
        )
    return tuple(store for store in STORES if store in wanted)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be positive")
    return value


def non_negative_int(text: str) -> int:
    return 0 if text.strip() == "0" else positive_int(text)


def build_parser() -> argparse.ArgumentParser:
    scenario_help = "\n".join(f"  {s.name:<31} {s.description} ({s.path})" for s in SCENARIOS)
    parser = argparse.ArgumentParser(
        prog="Benchmarks/http/run.py",
        description="HTTP benchmark of `msm serve`: wrk against the demo app on loopback with many "
        "distinct sessions, one scenario after the other, printed as a Markdown table.",
        epilog=f"scenarios (in this order):\n{scenario_help}\n\n"
        "Needs memcached, redis-server, nginx, wrk and postgresql (Debian packages of the same names) and release "
        "builds: swift build -c release --product msm; swift build -c release in Benchmarks/VaporSessionsBaseline "
        "(for the vapor-stock-* and Vapor lost-updates-* scenarios)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--msm", type=Path, default=None,
                        help=f"the msm executable (default: <repo>/{DEFAULT_MSM})")
    parser.add_argument("--vapor-baseline", type=Path, default=None,
                        help=f"the VaporSessionsBaseline executable (default: <repo>/{DEFAULT_VAPOR_BASELINE})")
    parser.add_argument("--connections", "-c", type=positive_int, default=64, metavar="C",
                        help="wrk connections (default 64)")
    parser.add_argument("--duration", "-d", type=positive_int, default=5, metavar="SECONDS",
                        help="measured wrk run per scenario, seconds (default 5)")
    parser.add_argument("--warmup", type=non_negative_int, default=1, metavar="SECONDS",
                        help="unmeasured wrk run before each measurement, seconds, 0 = none (default 1)")
    parser.add_argument("--sessions", "-n", type=positive_int, default=1000, metavar="N",
                        help="distinct sessions per scenario, wrk rotates through them (default 1000)")
    parser.add_argument("--scenarios", type=scenario_list, default=SCENARIOS, metavar="A,B,...",
                        help="comma-separated subset of the scenarios below (default: all)")
    parser.add_argument("--stores", type=store_list, default=STORES, metavar="S,...",
                        help="session stores to run every scenario on: memcached, redis or both (default "
                        "memcached,redis; the baseline runs once)")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=None,
                        help=f"pin the store, msm and nginx to CPU {SERVER_CPU} and wrk to CPU {WRK_CPU} with "
                        "taskset (default: on when taskset exists and nproc >= 2)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", dest="json_path",
                        help="also write the results (and the commands run) to FILE as JSON")
    parser.add_argument("--max-error-rate", type=float, default=0.01, metavar="FRACTION",
                        help="a scenario whose errors exceed this fraction of its requests fails (default 0.01)")
    parser.add_argument("--startup-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for a server to answer (default 30)")
    parser.add_argument("--keep-temp", action="store_true",
                        help="keep the temp directory (server logs, wrk script, nginx config) and print its path")
    parser.add_argument("--profile", type=Path, default=None, metavar="DIR", dest="profile_dir",
                        help="record the (first) server with `perf record -g` during each measured run and write a "
                        "flame graph per scenario to DIR/<store>-<scenario>.svg (needs perf: Debian package "
                        "linux-perf; profiling costs the server a few percent)")
    parser.add_argument("--rounds", type=positive_int, default=1, metavar="N",
                        help="run the scenario list N times per store, interleaved, and report each scenario's "
                             "median round (the others in a note): for A/B comparisons on a noisy machine (default 1)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every command started")
    return parser


def find_msm(explicit: Path | None) -> Path:
    path = explicit.absolute() if explicit is not None else REPO_ROOT / DEFAULT_MSM
    if path.is_file() and os.access(path, os.X_OK):
        return path
    message = f"msm executable not found at {path}: run `swift build -c release --product msm` in {REPO_ROOT}"
    debug = REPO_ROOT / ".build/debug/msm"
    if explicit is None and debug.is_file():
        message += f" (a debug build exists: --msm {debug} runs, but its figures mean little)"
    raise SetupError(message)


def find_vapor_baseline(explicit: Path | None) -> Path:
    path = explicit.absolute() if explicit is not None else REPO_ROOT / DEFAULT_VAPOR_BASELINE
    if path.is_file() and os.access(path, os.X_OK):
        return path
    raise SetupError(f"VaporSessionsBaseline not found at {path}: run `swift build -c release` in "
                     f"{REPO_ROOT / 'Benchmarks/VaporSessionsBaseline'} (or leave out the vapor-stock-* and "
                     "Vapor lost-updates-* scenarios)")


def prepare_profile_dir(directory: Path | None) -> Path | None:
    if directory is None:
        return None
    if shutil.which("perf") is None:
        raise SetupError("--profile needs `perf` (Debian package linux-perf)")
    directory.mkdir(parents=True, exist_ok=True)
    return directory.absolute()


def decide_pinning(requested: bool | None) -> bool:
    has_taskset = shutil.which("taskset") is not None
    cpus = os.cpu_count() or 1
    if requested is None:
        return has_taskset and cpus >= 2
    if requested and not has_taskset:
        raise SetupError("--pin needs `taskset` (Debian package util-linux)")
    if requested and cpus < 2:
        raise SetupError(f"--pin needs at least 2 CPUs (nproc is {cpus})")
    return requested


def make_config(argv: Sequence[str] | None = None) -> Config:
    args = build_parser().parse_args(argv)
    if not 0 <= args.max_error_rate <= 1:
        raise SetupError("--max-error-rate must be between 0 and 1")
    scenarios: tuple[Scenario, ...] = args.scenarios
    stores: tuple[str, ...] = args.stores
    needs_nginx = any(s.behind_nginx for s in scenarios)
    needs_vapor_baseline = any(s.vapor_driver for s in scenarios)
    return Config(
        msm=find_msm(args.msm),
        vapor_baseline=find_vapor_baseline(args.vapor_baseline) if needs_vapor_baseline else None,
        memcached=find_tool("memcached", "memcached") if "memcached" in stores else None,
        redis_server=find_tool("redis-server", "redis-server") if "redis" in stores else None,
        stores=stores,
        wrk=find_tool("wrk", "wrk"),
        nginx=find_tool("nginx", "nginx") if needs_nginx else None,
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        sessions=args.sessions,
        scenarios=scenarios,
        pin=decide_pinning(args.pin),
        json_path=args.json_path,
        max_error_rate=args.max_error_rate,
        startup_timeout=args.startup_timeout,
        keep_temp=args.keep_temp,
        verbose=args.verbose,
        profile_dir=prepare_profile_dir(args.profile_dir),
        rounds=args.rounds,
    )


# --------------------------------------------------------------------------------------------
# Progress and processes
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Store nodes: memcached and Redis
# --------------------------------------------------------------------------------------------


# Redis: RESP2 spoken directly (standard library only), just enough for PING, FLUSHALL and INFO.


def start_store(processes: Processes, config: Config, store: str, directory: Path) -> list[StoreNode]:
    """Two nodes of `store`, pinned like the servers."""
    cpu = SERVER_CPU if config.pin else None
    if store == "redis":
        assert config.redis_server is not None
        return start_redis(processes, config.redis_server, cpu, config.startup_timeout, directory)
    assert config.memcached is not None
    return start_memcached(processes, config.memcached, cpu, config.startup_timeout)


# --------------------------------------------------------------------------------------------
# HTTP client (session creation and probes)
# --------------------------------------------------------------------------------------------


COOKIE_OCTETS = re.compile(r"^[!#-+\--:<-\[\]-~]+$")  # RFC 6265 cookie-octet: safe in a Lua string


def create_sessions(port: int, count: int, session_bytes: int = 0) -> list[str]:
    """`count` distinct sessions by GET /myapp/, each then given a `blob` attribute of
    `session_bytes` bytes when that is not 0; returns their `name=value` cookies."""
    client = HttpClient(port)
    cookies: list[str] = []
    try:
        for index in range(count):
            reply = client.request("GET", "/myapp/", {"Accept": "application/json"})
            if reply.status != 200:
                raise ScenarioError(f"creating session {index + 1}: GET /myapp/ answered {reply.status}: {reply.body[:200]!r}")
            cookie = session_cookie(reply.header_values("Set-Cookie"))
            if cookie is None:
                raise ScenarioError(f"creating session {index + 1}: GET /myapp/ without a cookie set no session cookie "
                                    f"(Set-Cookie: {reply.header_values('Set-Cookie')})")
            name, value = cookie.split("=", 1)
            if not COOKIE_OCTETS.match(name) or not COOKIE_OCTETS.match(value):
                raise ScenarioError(f"unexpected characters in the session cookie {cookie!r}")
            cookies.append(cookie)
            if session_bytes:
                body = b"x" * session_bytes
                put = client.request("PUT", "/myapp/attributes/blob", {"Cookie": cookie, "Content-Type": "text/plain"}, body)
                if put.status not in (200, 204):
                    raise ScenarioError(f"session {index + 1}: PUT /myapp/attributes/blob answered {put.status}: {put.body[:200]!r}")
    finally:
        client.close()
    if len(set(cookies)) != len(cookies):
        raise ScenarioError(f"only {len(set(cookies))} of {len(cookies)} session cookies are distinct")
    return cookies


def choose_read_path(port: int, cookies: list[str], scenario: Scenario, notes: list[str]) -> str:
    """sticky-read reads `visits` (set by GET /myapp/); when that attribute is not readable,
    sets `name` = "x" in every session and reads that instead."""
    client = HttpClient(port)
    try:
        first = {"Cookie": cookies[0], "Accept": "application/json"}
        reply = client.request("GET", scenario.path, first)
        if reply.status == 200:
            return scenario.path
        if reply.status != 404:
            raise ScenarioError(f"GET {scenario.path} answered {reply.status}: {reply.body[:200]!r}")
        fallback = "/myapp/attributes/name"
        notes.append(f"GET {scenario.path} answered 404, so every session got attribute `name` and {fallback} is read")
        for cookie in cookies:
            put = client.request("PUT", fallback, {"Cookie": cookie, "Content-Type": "text/plain"}, b"x")
            if put.status not in (200, 204):
                raise ScenarioError(f"PUT {fallback} answered {put.status}: {put.body[:200]!r}")
        check = client.request("GET", fallback, first)
        if check.status != 200:
            raise ScenarioError(f"GET {fallback} answered {check.status} after PUT")
        return fallback
    finally:
        client.close()


def random_part(session_id: str) -> str:
    return session_id.split("-", 1)[0]


def stored_magic(nodes: Sequence[StoreNode], cookie: str) -> bytes:
    """The first 4 bytes the store holds for the session of `cookie` (`name=value`): `MSMS` for a
    plain envelope, `MSME` for an encrypted one; empty when no node holds it."""
    key = random_part(cookie.split("=", 1)[1])
    for node in nodes:
        if node.store == "redis":
            value = redis_command(node.port, "GETRANGE", key, "0", "3")
            if value:
                return bytes(value)
        else:
            reply = memcached_command_bytes(node.port, f"mg {key} v")
            if reply.startswith(b"VA "):
                return reply.split(b"\r\n", 1)[1][:4]
    return b""


def probe(port: int, path: str, cookie: str, scenario: Scenario, notes: list[str]) -> None:
    """One request as wrk will send it: must be 2xx; the session must be recognized (same id,
    and no new cookie from a single server). Problems become notes, not failures."""
    client = HttpClient(port)
    try:
        reply = client.request("GET", path, {"Cookie": cookie, "Accept": "application/json"})
    finally:
        client.close()
    if not 200 <= reply.status < 300:
        raise ScenarioError(f"probe GET {path} with a session cookie answered {reply.status}: {reply.body[:200]!r}")
    sent_value = cookie.split("=", 1)[1]
    if reply.header_values("Content-Type") and "json" in reply.header_values("Content-Type")[0]:
        try:
            served_id = str(json.loads(reply.body).get("sessionId", ""))
        except (ValueError, AttributeError):
            served_id = ""
        if served_id and random_part(served_id) != random_part(sent_value):
            notes.append(f"the session was not recognized: cookie {sent_value}, served {served_id}")
    new_cookie = session_cookie(reply.header_values("Set-Cookie"))
    # Vapor's own SessionsMiddleware sets its cookie on every response whose request touched the
    # session: that is what those rows measure, not a fault.
    if new_cookie and not scenario.behind_nginx and scenario.vapor_driver is None:
        notes.append(f"a request with a valid session cookie got Set-Cookie {new_cookie} (expected none)")


# --------------------------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------------------------


def wrk_argv(config: Config, url: str, script: Path, seconds: int) -> list[str]:
    argv = [config.wrk, "-t", "1", "-c", str(config.connections), "-d", f"{seconds}s", "--latency", "-s", str(script), url]
    return pinned(argv, WRK_CPU if config.pin else None)


# --------------------------------------------------------------------------------------------
# msm and nginx
# --------------------------------------------------------------------------------------------


def serve_help(msm: Path) -> str:
    try:
        completed = subprocess.run([str(msm), "serve", "--help"], capture_output=True, text=True, timeout=20,
                                   stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise SetupError(f"`{msm} serve --help` did not finish within 20 s") from None
    text = completed.stdout + completed.stderr
    if completed.returncode != 0 or "--memcached-nodes" not in text:
        raise SetupError(f"`{msm} serve --help` failed (status {completed.returncode}):\n{text.strip()}")
    return text


USED_SERVE_FLAGS = ("--host", "--port", "--route", "--memcached-nodes", "--failover-nodes", "--sticky",
                    "--non-sticky", "--locking-mode")


def missing_serve_flags(help_text: str) -> list[str]:
    return [flag for flag in USED_SERVE_FLAGS if not re.search(re.escape(flag) + r"(?![\w-])", help_text)]


def serve_argv(msm: Path, port: int, route: str, nodes: Sequence[StoreNode], scenario: Scenario,
               log_level: bool, cpu: int | None) -> list[str]:
    """`msm serve` on `nodes` (memcached or Redis: one flag takes both), the first as failover node."""
    node_list = ",".join(node.list_entry for node in nodes)
    argv = [str(msm), "serve", "--host", LOOPBACK, "--port", str(port), "--route", route,
            "--memcached-nodes", node_list, "--failover-nodes", nodes[0].node_id, *scenario.serve_args]
    if log_level:
        argv += ["--log-level", "warning"]
    return pinned(argv, cpu)


def vapor_baseline_argv(binary: Path, port: int, nodes: Sequence[StoreNode], scenario: Scenario,
                        postgres_url: str | None, cpu: int | None) -> list[str]:
    """VaporSessionsBaseline for a vapor-stock-* scenario: Vapor's SessionsMiddleware and a driver."""
    driver = scenario.vapor_driver
    assert driver is not None
    argv = [str(binary), "--port", str(port), "--sessions", driver]
    if driver == "fluent":
        if postgres_url is None:
            raise ScenarioError("PostgreSQL is not running (it failed to start; see above)")
        argv += ["--postgres-url", postgres_url]
    elif driver == "distributed":
        argv += ["--store", nodes[0].store, "--nodes", ",".join(node.list_entry for node in nodes),
                 "--failover-nodes", nodes[0].node_id]
    return pinned(argv, cpu)


def clean_environment() -> dict[str, str]:
    """This environment without MSM_* variables, which would change what `msm serve` does."""
    return {key: value for key, value in os.environ.items() if not key.startswith("MSM_")}


def nginx_config(msm: Path, temp_dir: Path, listen_port: int, upstream_ports: Sequence[int], connections: int) -> str:
    """The nginx configuration `msm demo` runs (one writer: `msm nginx-config`), round robin over
    `upstream_ports`, every path in temp_dir, one idle upstream connection per wrk connection."""
    completed = subprocess.run(
        [str(msm), "nginx-config", "--port", str(listen_port), "--app-ports", ",".join(map(str, upstream_ports)),
         "--directory", str(temp_dir), "--keepalive", str(max(64, connections))],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    if completed.returncode != 0:
        raise ScenarioError(f"msm nginx-config failed: {completed.stderr.strip()}")
    return completed.stdout


def nginx_argv(nginx: str, temp_dir: Path, config_path: Path, test_only: bool = False) -> list[str]:
    argv = [nginx, "-p", f"{temp_dir}/", "-c", str(config_path), "-e", str(temp_dir / "nginx-error.log")]
    return argv + ["-t", "-q"] if test_only else argv


def check_nginx_config(nginx: str, temp_dir: Path, config_path: Path) -> None:
    completed = subprocess.run(nginx_argv(nginx, temp_dir, config_path, test_only=True), capture_output=True,
                               text=True, timeout=20, stdin=subprocess.DEVNULL)
    if completed.returncode != 0:
        raise ScenarioError(f"nginx -t rejected the generated config {config_path}:\n{completed.stderr.strip()}")


# --------------------------------------------------------------------------------------------
# Running scenarios
# --------------------------------------------------------------------------------------------


@dataclass
class Bench:
    config: Config
    processes: Processes
    temp_dir: Path
    nodes: list[StoreNode]
    serve_has_log_level: bool
    postgres_url: str | None = None

    @property
    def store(self) -> str:
        return self.nodes[0].store

    def label(self, scenario: Scenario) -> str:
        """`sticky-write (redis)`, for progress lines."""
        return f"{scenario.name} ({self.store})"


def start_servers(bench: Bench, scenario: Scenario, result: ScenarioResult,
                  started: list[subprocess.Popen[bytes]]) -> int:
    """Starts the scenario's msm servers (and nginx), appending each to `started` at once (so
    a failure half-way still stops what runs); returns the port wrk targets."""
    config = bench.config
    cpu = SERVER_CPU if config.pin else None
    ports = free_ports(len(scenario.routes) + (1 if scenario.behind_nginx else 0))
    for route, port in zip(scenario.routes, ports):
        if scenario.vapor_driver is None:
            argv = serve_argv(config.msm, port, route, bench.nodes, scenario, bench.serve_has_log_level, cpu)
            what = f"msm serve route {route}"
        else:
            assert config.vapor_baseline is not None
            argv = vapor_baseline_argv(config.vapor_baseline, port, bench.nodes, scenario, bench.postgres_url, cpu)
            what = f"VaporSessionsBaseline {route} --sessions {scenario.vapor_driver}"
        result.commands.append(" ".join(argv))
        environment = clean_environment()
        if scenario.encrypted:
            environment["MSM_SESSION_ENCRYPTION_KEYS"] = ENCRYPTION_KEY
        process = bench.processes.start(f"{bench.store}-{scenario.name}-{route}", argv, env=environment)
        started.append(process)
        wait_for_health(port, process, config.startup_timeout, what, bench.processes)
        progress(f"{bench.label(scenario)}: {what} on :{port} (pid {process.pid}) {' '.join(scenario.serve_args)}")
    if not scenario.behind_nginx:
        return ports[0]

    assert config.nginx is not None
    listen_port = ports[-1]
    nginx_dir = bench.temp_dir / f"nginx-{bench.store}-{scenario.name}"
    nginx_dir.mkdir()
    config_path = nginx_dir / "nginx.conf"
    config_path.write_text(nginx_config(config.msm, nginx_dir, listen_port, ports[:-1], config.connections))
    check_nginx_config(config.nginx, nginx_dir, config_path)
    argv = pinned(nginx_argv(config.nginx, nginx_dir, config_path), cpu)
    result.commands.append(" ".join(argv))
    process = bench.processes.start(f"{bench.store}-{scenario.name}-nginx", argv)
    started.append(process)
    wait_for_health(listen_port, process, config.startup_timeout, "nginx", bench.processes)
    progress(f"{bench.label(scenario)}: nginx on :{listen_port} (pid {process.pid}) -> {', '.join(map(str, ports[:-1]))}")
    return listen_port


def measure(bench: Bench, scenario: Scenario, port: int, path: str, header: str, values: list[str],
            result: ScenarioResult, server_pid: int | None = None) -> None:
    config = bench.config
    script = bench.temp_dir / f"{bench.store}-{scenario.name}.lua"
    script.write_text(wrk_script(header, values))
    url = f"http://{LOOPBACK}:{port}{path}"
    if config.warmup:
        progress(f"{bench.label(scenario)}: warm-up {config.warmup} s")
        run_wrk(wrk_argv(config, url, script, config.warmup), config.warmup, config.verbose)
    before = store_counters(bench.nodes)
    argv = wrk_argv(config, url, script, config.duration)
    result.commands.append(" ".join(argv))
    progress(f"{bench.label(scenario)}: wrk {config.connections} connections, {config.duration} s, GET {path}")
    profile = start_profile(bench, scenario, server_pid)
    output = run_wrk(argv, config.duration, config.verbose)
    after = store_counters(bench.nodes)
    finish_profile(bench, scenario, profile, result)
    try:
        wrk = parse_wrk_output(output)
    except ValueError as error:
        raise ScenarioError(str(error)) from None
    result.wrk = wrk
    result.store_counters = counter_deltas(before, after)
    if wrk.requests:
        result.store_commands_per_request = sum(result.store_counters.values()) / wrk.requests
    progress(f"{bench.label(scenario)}: {wrk.requests_per_sec:,.0f} req/s, p50 {fmt_ms(wrk.p50_ms)} ms, p99 {fmt_ms(wrk.p99_ms)} ms, "
             f"errors {wrk.error_summary()}, {result.store} commands/request {fmt_number(result.store_commands_per_request, 2)}")
    if wrk.requests == 0:
        raise ScenarioError("wrk completed no request")
    if wrk.error_count > config.max_error_rate * wrk.requests:
        raise ScenarioError(f"{wrk.error_count} of {wrk.requests} requests failed ({wrk.error_summary()}), "
                            f"more than --max-error-rate {config.max_error_rate}")


def profile_name(bench: Bench, scenario: Scenario) -> str:
    return f"{bench.store if scenario.uses_store else 'any'}-{scenario.name}"


def start_profile(bench: Bench, scenario: Scenario, pid: int | None) -> tuple[subprocess.Popen[bytes], Path] | None:
    """`perf record -g` on the server for the measured run's length, when --profile is on."""
    if bench.config.profile_dir is None or pid is None:
        return None
    data = bench.temp_dir / f"{profile_name(bench, scenario)}.perf.data"
    argv = ["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", str(data), "--", "sleep", str(bench.config.duration)]
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), data


def finish_profile(bench: Bench, scenario: Scenario, profile: tuple[subprocess.Popen[bytes], Path] | None,
                   result: ScenarioResult) -> None:
    if profile is None or bench.config.profile_dir is None:
        return
    process, data = profile
    try:
        process.wait(timeout=bench.config.duration + 30)
        svg = bench.config.profile_dir / f"{profile_name(bench, scenario)}.svg"
        flame_graph(data, svg, f"{scenario.name} ({bench.store if scenario.uses_store else 'no store'}): {scenario.description}")
        progress(f"{bench.label(scenario)}: flame graph {svg}")
    except (subprocess.TimeoutExpired, RuntimeError, OSError) as error:
        process.kill()
        result.notes.append(f"no flame graph: {error}")
    finally:
        data.unlink(missing_ok=True)


def run_scenario(bench: Bench, scenario: Scenario) -> ScenarioResult:
    result = ScenarioResult(scenario=scenario.name, ok=False, path=scenario.path, store=bench.store)
    started: list[subprocess.Popen[bytes]] = []
    try:
        for node in bench.nodes:
            flush_store(node)
        port = start_servers(bench, scenario, result, started)
        path = scenario.path
        if scenario.measures_memory:
            progress(f"{bench.label(scenario)}: {MEMORY_SESSIONS:,} sessions with a {ATTRIBUTE_BYTES} B attribute")
            memory = measure_memory(port, started[0].pid, bench.nodes)
            result.memory = memory
            progress(f"{bench.label(scenario)}: RSS {memory.rss_before_kib:,} -> {memory.rss_after_kib:,} KiB, "
                     f"{memory.growth_per_session:,.0f} B per session, stored {memory.stored_bytes:,} B: {memory.ratio:.2f}x")
            result.ok = True
            return result
        if scenario.counts_lost_updates:
            progress(f"{bench.label(scenario)}: {WRITERS} writers x {INCREMENTS_PER_WRITER} increments on one session")
            lost = count_lost_updates(port)
            result.lost_updates = lost
            progress(f"{bench.label(scenario)}: {lost.answered_ok} of {lost.increments_sent} answered 200, visits "
                     f"{lost.final_visits} of {lost.expected_visits}: {lost.lost} lost")
            result.ok = True
            return result
        if scenario.uses_sessions:
            progress(f"{bench.label(scenario)}: creating {bench.config.sessions} sessions")
            cookies = create_sessions(port, bench.config.sessions, scenario.session_bytes)
            if scenario.read_only:
                path = choose_read_path(port, cookies, scenario, result.notes)
            result.path = path
            if scenario.session_bytes:
                # The encrypted rows must really be encrypted (and the plain ones not), or their
                # ratio would compare a scenario with itself.
                magic, expected = stored_magic(bench.nodes, cookies[-1]), b"MSME" if scenario.encrypted else b"MSMS"
                if magic != expected:
                    raise ScenarioError(f"the store holds sessions starting {magic!r}, expected {expected!r}")
            probe(port, path, cookies[-1], scenario, result.notes)
            for note in result.notes:
                progress(f"{bench.label(scenario)}: NOTE {note}")
            # A fixed shuffle: behind nginx's strict round robin, cookies in creation order
            # would all land on the server that created them, or all on the other one.
            header, values = "Cookie", shuffled(cookies)
        else:
            header, values = "X-Bench-Id", baseline_values(bench.config.sessions)
        measure(bench, scenario, port, path, header, values, result, started[0].pid if started else None)
        result.ok = True
    except ScenarioError as error:
        result.reason = str(error)
        progress(f"{bench.label(scenario)}: FAILED: {error}")
    except (OSError, http.client.HTTPException, RespError) as error:
        result.reason = f"{type(error).__name__}: {error}"
        progress(f"{bench.label(scenario)}: FAILED: {result.reason}")
    finally:
        for process in reversed(started):
            bench.processes.stop(process)
    return result


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def fmt_number(value: float | None, decimals: int) -> str:
    return "n/a" if value is None else f"{value:,.{decimals}f}"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def add_ratios(results: list[ScenarioResult]) -> None:
    """Each result against its own framework's baseline (`Scenario.baseline`)."""
    def baseline_of(name: str) -> str:
        scenario = SCENARIO_BY_NAME.get(name)
        return scenario.baseline if scenario else "baseline"

    rates = {r.scenario: r.wrk.requests_per_sec for r in results if r.ok and r.wrk and r.wrk.requests_per_sec > 0
             and baseline_of(r.scenario) == r.scenario}
    for result in results:
        base = rates.get(baseline_of(result.scenario))
        if result.wrk is not None and base:
            result.ratio_to_baseline = result.wrk.requests_per_sec / base


def header_line(config: Config, started: dt.datetime) -> str:
    pinning = (f"store, msm, nginx on CPU {SERVER_CPU}, wrk on CPU {WRK_CPU}" if config.pin else "none")
    try:
        msm_path = str(config.msm.relative_to(REPO_ROOT))
    except ValueError:
        msm_path = str(config.msm)
    return (f"msm HTTP benchmark, {started.strftime('%Y-%m-%d %H:%M %Z')}: nproc {os.cpu_count()}, "
            f"pinning: {pinning}; wrk -t 1 -c {config.connections}, {config.duration} s per scenario "
            f"(+{config.warmup} s warm-up), {config.sessions} sessions; stores {', '.join(config.stores)}; "
            f"{msm_path}{git_revision()}")


def git_revision() -> str:
    try:
        completed = subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                                   capture_output=True, text=True, timeout=5, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return f" at {completed.stdout.strip()}" if completed.returncode == 0 and completed.stdout.strip() else ""


def store_cell(result: ScenarioResult) -> str:
    """The store a row measured; `-` for a scenario without session work (the baseline)."""
    scenario = SCENARIO_BY_NAME.get(result.scenario)
    return result.store if scenario is None or scenario.uses_store else "-"


def failure_summary(result: ScenarioResult) -> str:
    """A failed row's reason, first line only, safe inside a Markdown table cell."""
    return result.reason.splitlines()[0].replace("|", "\\|") if result.reason else ""


def measured_rates(results: list[ScenarioResult]) -> dict[tuple[str, str], float]:
    """req/s of every scenario that ran and answered, by (scenario, store)."""
    return {(r.scenario, r.store): r.wrk.requests_per_sec for r in results if r.ok and r.wrk and r.wrk.requests_per_sec > 0}


def verdict(value: float, goal: float, shown: str, goal_shown: str) -> str:
    """`0.97 >= 0.95 (met)`: a measured value against its minimum."""
    return f"{shown} {'>=' if value >= goal else '<'} {goal_shown} ({'met' if value >= goal else 'missed'})"


def markdown_table(results: list[ScenarioResult]) -> str:
    lines = ["| store | scenario | req/s | p50 ms | p99 ms | ratio to baseline | errors |", "|---|---|--:|--:|--:|--:|---|"]
    for r in results:
        if is_lost_updates(r) or is_memory(r):
            continue
        if r.wrk is None:
            lines.append(f"| {store_cell(r)} | {r.scenario} | FAILED | | | | {failure_summary(r)} |")
            continue
        errors = r.wrk.error_summary() + ("" if r.ok else " (FAILED)")
        lines.append(f"| {store_cell(r)} | {r.scenario} | {r.wrk.requests_per_sec:,.0f} | {fmt_ms(r.wrk.p50_ms)} | "
                     f"{fmt_ms(r.wrk.p99_ms)} | {fmt_number(r.ratio_to_baseline, 2)} | {errors} |")
    return "\n".join(lines)


def is_lost_updates(result: ScenarioResult) -> bool:
    scenario = SCENARIO_BY_NAME.get(result.scenario)
    return scenario is not None and scenario.counts_lost_updates


def is_memory(result: ScenarioResult) -> bool:
    scenario = SCENARIO_BY_NAME.get(result.scenario)
    return scenario is not None and scenario.measures_memory


def memory_table(results: list[ScenarioResult]) -> str | None:
    """RSS growth per sticky session held, against one session's stored size (goal: <= 2x)."""
    rows = [r for r in results if is_memory(r)]
    if not rows:
        return None
    lines = [f"Sticky sessions held in memory ({MEMORY_SESSIONS:,} sessions, one {ATTRIBUTE_BYTES} B attribute each; "
             f"goal: RSS growth <= {MEMORY_GOAL:g}x the stored size):", "",
             "| store | RSS before KiB | RSS after KiB | growth per session B | stored per session B | ratio |",
             "|---|--:|--:|--:|--:|--:|"]
    for r in rows:
        m = r.memory
        if m is None:
            lines.append(f"| {r.store} | FAILED | | | | {failure_summary(r)} |")
        else:
            lines.append(f"| {r.store} | {m.rss_before_kib:,} | {m.rss_after_kib:,} | {m.growth_per_session:,.0f} | "
                         f"{m.stored_bytes:,} | {m.ratio:.2f} |")
    return "\n".join(lines)


def lost_updates_table(results: list[ScenarioResult]) -> str | None:
    """Concurrent writers on one session: increments answered 200 against the final count."""
    rows = [r for r in results if is_lost_updates(r)]
    if not rows:
        return None
    lines = [f"Concurrent writers on one session ({WRITERS} x {INCREMENTS_PER_WRITER} increments at once):", "",
             "| store | scenario | answered 200 | visits expected | visits stored | lost |", "|---|---|--:|--:|--:|--:|"]
    for r in rows:
        lost = r.lost_updates
        if lost is None:
            lines.append(f"| {store_cell(r)} | {r.scenario} | FAILED | | | {failure_summary(r)} |")
        else:
            lines.append(f"| {store_cell(r)} | {r.scenario} | {lost.answered_ok} of {lost.increments_sent} | "
                         f"{lost.expected_visits} | {lost.final_visits} | {lost.lost} |")
    return "\n".join(lines)


def goals_line(results: list[ScenarioResult]) -> str | None:
    parts = []
    for r in results:
        if r.scenario in GOALS and r.ratio_to_baseline is not None:
            goal = GOALS[r.scenario]
            name = r.scenario if r.store == "memcached" else f"{r.scenario} on {r.store}"
            parts.append(f"{name} {verdict(r.ratio_to_baseline, goal, f'{r.ratio_to_baseline:.2f}', f'{goal}')}")
    return "Goals (issues 4, 12, 13): " + "; ".join(parts) + "." if parts else None


def cross_goals_line(results: list[ScenarioResult]) -> str | None:
    """Ours against Vapor's drivers (run once, store-independent), per store; and no lost increment
    with locking all."""
    rates = measured_rates(results)
    theirs = {scenario: rate for (scenario, _), rate in rates.items()}
    parts = []
    for ours, other, goal in CROSS_GOALS:
        for (scenario, store), rate in rates.items():
            if scenario == ours and theirs.get(other):
                ratio = rate / theirs[other]
                parts.append(f"{ours} ({store}) / {other} {verdict(ratio, goal, f'{ratio:.1f}x', f'{goal:g}x')}")
    for r in results:
        if r.scenario == "lost-updates-locking-all" and r.lost_updates is not None:
            lost = r.lost_updates.lost
            parts.append(f"{r.scenario} ({r.store}) lost {lost} ({'met' if lost == 0 else 'missed'})")
    return "Vapor goals (issue 12): " + "; ".join(parts) + "." if parts else None


def encryption_goals_line(results: list[ScenarioResult]) -> str | None:
    """Encrypted against unencrypted, each pair on the same store (issue 14)."""
    rates = measured_rates(results)
    parts = []
    for encrypted, plain, goal in ENCRYPTION_GOALS:
        for store in STORES:
            if (encrypted, store) in rates and (plain, store) in rates:
                ratio = rates[(encrypted, store)] / rates[(plain, store)]
                parts.append(f"{encrypted} ({store}) / {plain} {verdict(ratio, goal, f'{ratio:.2f}', f'{goal:g}')}")
    return "Encryption goals (issue 14): " + "; ".join(parts) + "." if parts else None


def report(config: Config, results: list[ScenarioResult], started: dt.datetime, out: TextIO) -> None:
    print(header_line(config, started), file=out)
    print(file=out)
    print(markdown_table(results), file=out)
    goals = goals_line(results)
    if goals:
        print(file=out)
        print(goals, file=out)
    cross = cross_goals_line(results)
    if cross:
        print(file=out)
        print(cross, file=out)
    encryption = encryption_goals_line(results)
    if encryption:
        print(file=out)
        print(encryption, file=out)
    lost = lost_updates_table(results)
    if lost:
        print(file=out)
        print(lost, file=out)
    memory = memory_table(results)
    if memory:
        print(file=out)
        print(memory, file=out)
    for r in results:
        for note in r.notes:
            print(f"\nNote ({r.scenario}, {r.store}): {note}", file=out)
        if not r.ok:
            print(f"\nFAILED {r.scenario} ({r.store}): {r.reason}", file=out)


def write_json(path: Path, config: Config, results: list[ScenarioResult], started: dt.datetime) -> None:
    document: dict[str, Any] = {
        "header": header_line(config, started),
        "started": started.isoformat(),
        "nproc": os.cpu_count(),
        "pinning": config.pin,
        "connections": config.connections,
        "duration_seconds": config.duration,
        "warmup_seconds": config.warmup,
        "sessions": config.sessions,
        "stores": list(config.stores),
        "msm": str(config.msm),
        "goals": GOALS,
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n")


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def _raise_interrupted(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


@contextmanager
def cleanup_signals_ignored() -> Iterator[None]:
    """While cleaning up, a second Ctrl-C must not leave processes behind."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in HANDLED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_plan(stores: Sequence[str], scenarios: Sequence[Scenario]) -> list[tuple[str, list[Scenario]]]:
    """Which scenarios run on which store, in order. The baseline does no session work, so it
    runs once, on the first store; a store left without scenarios is not started at all."""
    plan = []
    for index, store in enumerate(stores):
        chosen = [s for s in scenarios if s.uses_store or index == 0]  # baselines, Vapor's own drivers: once
        if chosen:
            plan.append((store, chosen))
    return plan


def median_round(rounds: list[ScenarioResult]) -> ScenarioResult:
    """One scenario's rounds as one result: a failed round if any (its reason matters), else the
    round with the median req/s (the lower middle one of an even count), the others in a note."""
    if len(rounds) == 1:
        return rounds[0]
    failed = [r for r in rounds if not r.ok]
    if failed:
        return failed[0]
    measured = sorted((r for r in rounds if r.wrk is not None), key=lambda r: r.wrk.requests_per_sec if r.wrk else 0.0)
    if not measured:
        return rounds[0]
    chosen = measured[(len(measured) - 1) // 2]
    every = ", ".join(f"{r.wrk.requests_per_sec:,.0f}" for r in rounds if r.wrk is not None)
    chosen.notes.append(f"median of {len(rounds)} rounds; req/s in round order: {every}")
    return chosen


def run(config: Config) -> int:
    started = dt.datetime.now().astimezone()
    help_text = serve_help(config.msm)
    missing = missing_serve_flags(help_text)
    if missing:
        progress(f"WARNING: `msm serve --help` does not list {', '.join(missing)} (DESIGN.md's CLI contract); trying anyway")
    has_log_level = "--log-level" in help_text
    progress(header_line(config, started))

    temp_dir = Path(tempfile.mkdtemp(prefix="msm-http-bench-"))
    processes = Processes(temp_dir, config.verbose)
    results: list[ScenarioResult] = []
    postgres: PostgresServer | None = None
    try:
        if any(s.vapor_driver == "fluent" for s in config.scenarios):
            try:
                postgres = start_postgres(processes, SERVER_CPU if config.pin else None, config.startup_timeout)
            except ScenarioError as error:  # the FluentSessions rows fail; the others still run
                progress(f"postgres: FAILED to start: {error}")
        for store, scenarios in run_plan(config.stores, config.scenarios):
            try:
                nodes = start_store(processes, config, store, temp_dir)
            except ScenarioError as error:  # this store cannot run; the other may
                progress(f"{store}: FAILED to start: {error}")
                results += [ScenarioResult(s.name, False, reason=f"{store} did not start: {error}", path=s.path, store=store)
                            for s in scenarios]
                continue
            bench = Bench(config, processes, temp_dir, nodes, has_log_level, postgres.url if postgres else None)
            rounds: dict[str, list[ScenarioResult]] = {}
            for round_number in range(1, config.rounds + 1):
                if config.rounds > 1:
                    progress(f"{store}: round {round_number} of {config.rounds}")
                for scenario in scenarios:
                    if round_number == 1 or not (scenario.measures_memory or scenario.counts_lost_updates):
                        rounds.setdefault(scenario.name, []).append(run_scenario(bench, scenario))
            results += [median_round(each) for each in rounds.values()]
            for node in reversed(nodes):  # idle, but their memory and sockets are no longer needed
                if node.process is not None:
                    processes.stop(node.process)
    finally:
        with cleanup_signals_ignored():
            if postgres is not None:
                stop_postgres(processes, postgres)
            processes.stop_all()
            if config.keep_temp:
                progress(f"kept {temp_dir} (server logs, wrk scripts, nginx config)")
            else:
                shutil.rmtree(temp_dir, ignore_errors=True)

    add_ratios(results)
    report(config, results, started, sys.stdout)
    if config.json_path is not None:
        write_json(config.json_path, config, results, started)
        progress(f"wrote {config.json_path}")
    failed = [r.scenario for r in results if not r.ok]
    if failed:
        progress(f"{len(failed)} scenario(s) failed: {', '.join(failed)}")
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _raise_interrupted)
    signal.signal(signal.SIGHUP, _raise_interrupted)
    try:
        return run(make_config(argv))
    except SetupError as error:
        print(f"run.py: {error}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted) as error:
        print(f"run.py: interrupted ({str(error) or 'SIGINT'}); everything started was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
