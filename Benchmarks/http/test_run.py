#!/usr/bin/env python3
"""Tests of Benchmarks/http/run.py that need no running msm: arguments, wrk's output parser, the
wrk Lua script (against a local HTTP server), the nginx config from `msm nginx-config` (nginx -t
and a real proxy run; needs the debug msm that `make test` builds),
memcached and redis-server start/flush/stats/stop, the RESP reader and the per-store plan.
Tests that need wrk, nginx, memcached or redis-server are skipped when the program is missing.

    python3 Benchmarks/http/test_run.py        # or: python3 -m unittest -v (in this folder)
"""

from __future__ import annotations

import base64
import http.server
import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import flamegraph  # noqa: E402
import run  # noqa: E402

# Real wrk 4.1.0 output, captured against `python3 -m http.server` on loopback with a Lua
# script from run.wrk_script (rotating 5 cookies), -t 1 -c 8 -d 2s --latency.
WRK_OK = """\
Running 2s test @ http://127.0.0.1:40867/index.html
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.58ms    2.22ms  19.71ms   72.86%
    Req/Sec     1.30k   135.10     1.70k    75.00%
  Latency Distribution
     50%    3.98ms
     75%    6.05ms
     90%    7.51ms
     99%   10.80ms
  2595 requests in 2.00s, 481.49KB read
Requests/sec:   1296.97
Transfer/sec:    240.65KB
"""

# The same against a path http.server answers with 404.
WRK_NOT_FOUND = """\
Running 2s test @ http://127.0.0.1:40867/missing
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.75ms    2.45ms  16.27ms   75.12%
    Req/Sec     1.26k   227.17     1.70k    71.43%
  Latency Distribution
     50%    3.97ms
     75%    6.27ms
     90%    8.12ms
     99%   12.25ms
  2632 requests in 2.10s, 1.31MB read
  Non-2xx or 3xx responses: 2632
Requests/sec:   1253.21
Transfer/sec:    636.40KB
"""

# Against a server that answers after 1.2 s or 3 s or closes the connection: socket errors and
# latencies in seconds (note wrk's trailing blank after "s").
WRK_SLOW = """\
Running 4s test @ http://127.0.0.1:38669/
  1 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21s    10.96ms   1.24s    83.33%
    Req/Sec    35.38     44.63   110.00     75.00%
  Latency Distribution
     50%    1.20s \n\
     75%    1.21s \n\
     90%    1.23s \n\
     99%    1.24s \n\
  38 requests in 4.01s, 1.48KB read
  Socket errors: connect 0, read 13, write 0, timeout 2
Requests/sec:      9.49
Transfer/sec:     379.44B
"""

# What wrk prints (exit status 1) when nothing listens.
WRK_REFUSED = "unable to connect to 127.0.0.1:38669 Connection refused\n"


def free_port() -> int:
    return run.free_ports(1)[0]


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1 handler that records each request's Cookie and X-Bench-Id headers."""

    protocol_version = "HTTP/1.1"
    seen: list[tuple[str | None, str | None, str | None]] = []
    lock = threading.Lock()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        with self.lock:
            self.seen.append((self.headers.get("Cookie"), self.headers.get("X-Bench-Id"), self.headers.get("Accept")))
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class LocalServer:
    """A threaded HTTP server on a free loopback port, for the length of a `with` block."""

    def __init__(self) -> None:
        RecordingHandler.seen = []
        self.server = http.server.ThreadingHTTPServer((run.LOOPBACK, 0), RecordingHandler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakeDemoHandler(http.server.BaseHTTPRequestHandler):
    """Just enough of msm's demo app for the session helpers: GET /myapp/ creates a session
    (Set-Cookie) when the request has none; attributes live in `attributes`; `visits` is not
    readable, so sticky-read must fall back to `name`."""

    protocol_version = "HTTP/1.1"
    sessions: dict[str, dict[str, str]] = {}
    counter = 0

    def session_id(self) -> str | None:
        cookie = self.headers.get("Cookie", "")
        return cookie.split("=", 1)[1] if cookie.startswith("SESSIONID=") else None

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        session = self.session_id()
        if self.path == "/myapp/":
            headers = {"Content-Type": "application/json"}
            if session not in self.sessions:
                FakeDemoHandler.counter += 1
                session = f"{FakeDemoHandler.counter:032X}-m2.A"
                self.sessions[session] = {}
                headers["Set-Cookie"] = f"SESSIONID={session}; Path=/; HttpOnly"
            self.reply(200, json.dumps({"sessionId": session, "visits": 1}).encode(), headers)
        elif self.path.startswith("/myapp/attributes/"):
            value = self.sessions.get(session or "", {}).get(self.path.rsplit("/", 1)[1])
            self.reply(404) if value is None else self.reply(200, value.encode())
        else:
            self.reply(404)

    def do_PUT(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        session = self.session_id()
        if session in self.sessions and self.path.startswith("/myapp/attributes/"):
            self.sessions[session][self.path.rsplit("/", 1)[1]] = body.decode()
            self.reply(204)
        else:
            self.reply(404)

    def log_message(self, *args: object) -> None:
        pass


class SessionHelperTests(unittest.TestCase):
    def test_create_sessions_read_fallback_and_probe(self) -> None:
        FakeDemoHandler.sessions = {}
        server = http.server.ThreadingHTTPServer((run.LOOPBACK, 0), FakeDemoHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            port = server.server_address[1]
            cookies = run.create_sessions(port, 25)
            self.assertEqual(len(set(cookies)), 25)
            self.assertTrue(all(c.startswith("SESSIONID=") and c.endswith("-m2.A") for c in cookies))
            scenario = {s.name: s for s in run.SCENARIOS}["sticky-read"]
            notes: list[str] = []
            path = run.choose_read_path(port, cookies, scenario, notes)
            self.assertEqual(path, "/myapp/attributes/name")
            self.assertEqual(len(notes), 1)
            self.assertTrue(all(attrs == {"name": "x"} for attrs in FakeDemoHandler.sessions.values()))
            probe_notes: list[str] = []
            run.probe(port, "/myapp/", cookies[3], {s.name: s for s in run.SCENARIOS}["sticky-write"], probe_notes)
            self.assertEqual(probe_notes, [])
            run.probe(port, "/myapp/", "SESSIONID=UNKNOWN-m2.A", scenario, probe_notes)
            self.assertEqual(len(probe_notes), 2)  # another id served, and a new cookie set
            with self.assertRaises(run.ScenarioError):
                run.probe(port, "/nowhere", cookies[0], scenario, [])
        finally:
            server.shutdown()
            server.server_close()


class ArgumentTests(unittest.TestCase):
    def test_defaults(self) -> None:
        args = run.build_parser().parse_args([])
        self.assertEqual(args.connections, 64)
        self.assertEqual(args.duration, 5)
        self.assertEqual(args.sessions, 1000)
        self.assertEqual(args.warmup, 1)
        self.assertIsNone(args.pin)
        self.assertIsNone(args.json_path)
        self.assertEqual([s.name for s in args.scenarios], list(run.SCENARIO_NAMES))
        self.assertEqual(args.stores, ("memcached", "redis"))

    def test_store_subset_keeps_canonical_order(self) -> None:
        self.assertEqual(run.build_parser().parse_args(["--stores", "redis"]).stores, ("redis",))
        self.assertEqual(run.build_parser().parse_args(["--stores", "redis, memcached,redis"]).stores,
                         ("memcached", "redis"))

    def test_scenario_subset_keeps_canonical_order(self) -> None:
        args = run.build_parser().parse_args(["--scenarios", "sticky-write, baseline,sticky-write"])
        self.assertEqual([s.name for s in args.scenarios], ["baseline", "sticky-write"])

    def test_rejects_unknown_scenario_and_bad_numbers(self) -> None:
        for argv in (["--scenarios", "baseline,nope"], ["--scenarios", ""], ["--connections", "0"],
                     ["--duration", "abc"], ["--sessions", "-5"], ["--stores", "mongodb"], ["--stores", ","]):
            with self.subTest(argv=argv), self.assertRaises(SystemExit), open(os.devnull, "w") as devnull:
                stderr, sys.stderr = sys.stderr, devnull
                try:
                    run.build_parser().parse_args(argv)
                finally:
                    sys.stderr = stderr

    def test_flags(self) -> None:
        args = run.build_parser().parse_args(["-c", "8", "-d", "2", "--warmup", "0", "-n", "10", "--no-pin",
                                              "--json", "/tmp/x.json", "--msm", "bin/msm"])
        self.assertEqual((args.connections, args.duration, args.warmup, args.sessions, args.pin),
                         (8, 2, 0, 10, False))
        self.assertEqual(args.json_path, Path("/tmp/x.json"))
        self.assertEqual(args.msm, Path("bin/msm"))

    def test_scenario_table(self) -> None:
        self.assertEqual(run.SCENARIO_NAMES, ("baseline", "sticky-read", "sticky-write", "sticky-write-async", "nonsticky-write",
                                              "nonsticky-locking-all", "sticky-write-1kb", "sticky-write-1kb-encrypted",
                                              "nonsticky-write-1kb", "nonsticky-write-1kb-encrypted", "nginx-2-servers", "vapor-baseline",
                                              "vapor-sticky-read", "vapor-sticky-write", "vapor-nonsticky-write",
                                              "vapor-nonsticky-locking-all", "vapor-stock-memorysessions",
                                              "vapor-stock-fluentsessions", "vapor-stock-distributed-driver",
                                              "lost-updates-locking-all", "lost-updates-locking-none",
                                              "lost-updates-fluentsessions", "lost-updates-memorysessions",
                                              "sticky-memory"))
        by_name = {s.name: s for s in run.SCENARIOS}
        self.assertFalse(by_name["baseline"].uses_sessions)
        self.assertEqual(by_name["nonsticky-locking-all"].serve_args, ("--non-sticky", "--locking-mode", "all"))
        self.assertTrue(by_name["nginx-2-servers"].behind_nginx)
        self.assertEqual(by_name["nginx-2-servers"].routes, ("A", "B"))

    def test_missing_msm_says_how_to_build(self) -> None:
        with self.assertRaises(run.SetupError) as caught:
            run.find_msm(Path("/nonexistent/msm"))
        self.assertIn("swift build -c release --product msm", str(caught.exception))

    def test_explicit_msm(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            binary = Path(directory) / "msm"
            binary.write_text("#!/bin/sh\n")
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
            self.assertEqual(run.find_msm(binary), binary)

    def test_missing_tool_names_the_package(self) -> None:
        with self.assertRaises(run.SetupError) as caught:
            run.find_tool("no-such-tool-xyz", "some-debian-package")
        self.assertIn("some-debian-package", str(caught.exception))

    def test_serve_argv(self) -> None:
        nodes = [run.StoreNode("m1", 1111, None), run.StoreNode("m2", 2222, None)]
        scenario = {s.name: s for s in run.SCENARIOS}["nonsticky-write"]
        argv = run.serve_argv(Path("/bin/msm"), 8081, "A", nodes, scenario, log_level=True, cpu=0)
        self.assertEqual(argv, ["taskset", "-c", "0", "/bin/msm", "serve", "--host", "127.0.0.1", "--port", "8081",
                                "--route", "A", "--memcached-nodes", "m1:127.0.0.1:1111,m2:127.0.0.1:2222",
                                "--failover-nodes", "m1", "--non-sticky", "--locking-mode", "none",
                                "--log-level", "warning"])

    def test_serve_argv_on_redis(self) -> None:
        nodes = [run.StoreNode("r1", 1111, None, store="redis"), run.StoreNode("r2", 2222, None, store="redis")]
        scenario = {s.name: s for s in run.SCENARIOS}["sticky-write"]
        argv = run.serve_argv(Path("/bin/msm"), 8081, "B", nodes, scenario, log_level=False, cpu=None)
        self.assertEqual(argv, ["/bin/msm", "serve", "--host", "127.0.0.1", "--port", "8081", "--route", "B",
                                "--memcached-nodes", "r1:redis://127.0.0.1:1111,r2:redis://127.0.0.1:2222",
                                "--failover-nodes", "r1", "--sticky"])

    def test_run_plan_measures_the_baseline_once(self) -> None:
        by_name = {s.name: s for s in run.SCENARIOS}
        plan = run.run_plan(run.STORES, run.SCENARIOS)
        self.assertEqual([store for store, _ in plan], ["memcached", "redis"])
        self.assertEqual([s.name for s in plan[0][1]], list(run.SCENARIO_NAMES))
        once = {"baseline", "vapor-baseline", "vapor-stock-memorysessions", "vapor-stock-fluentsessions",
                "lost-updates-fluentsessions", "lost-updates-memorysessions"}
        self.assertEqual([s.name for s in plan[1][1]], [n for n in run.SCENARIO_NAMES if n not in once])
        self.assertIn("vapor-stock-distributed-driver", [s.name for s in plan[1][1]])  # our driver: per store
        self.assertEqual([(store, [s.name for s in chosen]) for store, chosen in run.run_plan(("redis",), run.SCENARIOS)][0][1],
                         list(run.SCENARIO_NAMES))
        # Only the baseline asked for: the second store has nothing to run and is not started.
        self.assertEqual([(store, [s.name for s in chosen]) for store, chosen in run.run_plan(run.STORES, (by_name["baseline"],))],
                         [("memcached", ["baseline"])])

    def test_vapor_baseline_argv(self) -> None:
        by_name = {s.name: s for s in run.SCENARIOS}
        nodes = [run.StoreNode("r1", 1111, None, store="redis"), run.StoreNode("r2", 2222, None, store="redis")]
        binary = Path("/bin/vsb")
        self.assertEqual(run.vapor_baseline_argv(binary, 9000, nodes, by_name["vapor-stock-memorysessions"], None, 0),
                         ["taskset", "-c", "0", "/bin/vsb", "--port", "9000", "--sessions", "memory"])
        self.assertEqual(run.vapor_baseline_argv(binary, 9000, nodes, by_name["vapor-stock-fluentsessions"], "postgres://x", None),
                         ["/bin/vsb", "--port", "9000", "--sessions", "fluent", "--postgres-url", "postgres://x"])
        with self.assertRaises(run.ScenarioError):  # PostgreSQL did not start: that row fails, not the run
            run.vapor_baseline_argv(binary, 9000, nodes, by_name["lost-updates-fluentsessions"], None, None)
        self.assertEqual(run.vapor_baseline_argv(binary, 9000, nodes, by_name["vapor-stock-distributed-driver"], None, None),
                         ["/bin/vsb", "--port", "9000", "--sessions", "distributed", "--store", "redis", "--nodes",
                          "r1:redis://127.0.0.1:1111,r2:redis://127.0.0.1:2222", "--failover-nodes", "r1"])
        self.assertIsNone(by_name["lost-updates-locking-all"].vapor_driver)  # that one is msm serve

    def test_missing_serve_flags(self) -> None:
        self.assertEqual(run.missing_serve_flags(" ".join(run.USED_SERVE_FLAGS)), [])
        self.assertEqual(run.missing_serve_flags("--host --port --route --memcached-nodes --failover-nodes "
                                                 "--sticky/--no-sticky --locking-mode"), ["--non-sticky"])


class WrkParserTests(unittest.TestCase):
    def test_ok(self) -> None:
        result = run.parse_wrk_output(WRK_OK)
        self.assertEqual(result.requests_per_sec, 1296.97)
        self.assertEqual(result.requests, 2595)
        self.assertEqual(result.p50_ms, 3.98)
        self.assertEqual(result.p99_ms, 10.80)
        self.assertEqual(result.error_count, 0)
        self.assertEqual(result.error_summary(), "0")

    def test_non_2xx(self) -> None:
        result = run.parse_wrk_output(WRK_NOT_FOUND)
        self.assertEqual(result.non_2xx_3xx, 2632)
        self.assertEqual(result.error_count, 2632)
        self.assertEqual(result.error_summary(), "non-2xx 2632")

    def test_socket_errors_and_seconds(self) -> None:
        result = run.parse_wrk_output(WRK_SLOW)
        self.assertEqual(result.requests, 38)
        self.assertAlmostEqual(result.p50_ms or 0, 1200.0)
        self.assertAlmostEqual(result.p99_ms or 0, 1240.0)
        self.assertEqual(result.socket_errors, {"connect": 0, "read": 13, "write": 0, "timeout": 2})
        self.assertEqual(result.error_summary(), "read 13, timeout 2")

    def test_no_report(self) -> None:
        with self.assertRaises(ValueError):
            run.parse_wrk_output(WRK_REFUSED)

    def test_without_latency_distribution(self) -> None:
        text = "\n".join(line for line in WRK_OK.splitlines() if "%" not in line or "Stdev" in line)
        result = run.parse_wrk_output(text)
        self.assertIsNone(result.p50_ms)
        self.assertEqual(result.requests, 2595)

    def test_time_units(self) -> None:
        self.assertAlmostEqual(run.time_to_ms("812.00us"), 0.812)
        self.assertAlmostEqual(run.time_to_ms("1.23ms"), 1.23)
        self.assertAlmostEqual(run.time_to_ms("2.00s "), 2000.0)
        self.assertAlmostEqual(run.time_to_ms("1.50m"), 90_000.0)
        with self.assertRaises(ValueError):
            run.time_to_ms("3 parsecs")

    def test_rate_with_suffix(self) -> None:
        self.assertEqual(run.parse_wrk_output(WRK_OK.replace("1296.97", "12.50k")).requests_per_sec, 12_500.0)


class LuaScriptTests(unittest.TestCase):
    def test_lua_string_escapes(self) -> None:
        self.assertEqual(run.lua_string('a"b\\c'), '"a\\"b\\\\c"')

    def test_shuffled_is_a_reproducible_permutation(self) -> None:
        values = [str(i) for i in range(100)]
        self.assertEqual(sorted(run.shuffled(values), key=int), values)
        self.assertEqual(run.shuffled(values), run.shuffled(values))
        self.assertNotEqual(run.shuffled(values), values)

    def test_baseline_values_look_like_cookies(self) -> None:
        values = run.baseline_values(3)
        self.assertEqual(len(set(values)), 3)
        self.assertEqual({len(v) for v in values}, {len("SESSIONID=" + "0" * 32 + "-m2.A")})

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_wrk_rotates_cookies(self) -> None:
        cookies = [f"SESSIONID={index:032X}-m2.A" for index in range(7)]
        self._run_wrk("Cookie", cookies, connections=1)
        seen = [cookie for cookie, _, _ in RecordingHandler.seen]
        self.assertGreater(len(seen), 2 * len(cookies))
        # One connection: requests arrive in the order wrk made them, strictly round robin (wrk
        # calls request() once more before the run, so the first value seen may be the second).
        start = cookies.index(seen[0])
        self.assertEqual(seen, [cookies[(start + i) % len(cookies)] for i in range(len(seen))])
        self.assertTrue(all(accept == "application/json" for _, _, accept in RecordingHandler.seen))

    @unittest.skipUnless(shutil.which("wrk"), "wrk not installed")
    def test_wrk_baseline_header_and_many_connections(self) -> None:
        values = run.baseline_values(50)
        output = self._run_wrk("X-Bench-Id", values, connections=8)
        self.assertEqual({cookie for cookie, _, _ in RecordingHandler.seen}, {None})
        self.assertEqual({value for _, value, _ in RecordingHandler.seen}, set(values))
        result = run.parse_wrk_output(output)
        self.assertEqual(result.error_count, 0)
        self.assertIsNotNone(result.p99_ms)

    def _run_wrk(self, header: str, values: list[str], connections: int) -> str:
        with tempfile.TemporaryDirectory() as directory, LocalServer() as server:
            script = Path(directory) / "rotate.lua"
            script.write_text(run.wrk_script(header, values))
            argv = [shutil.which("wrk") or "wrk", "-t", "1", "-c", str(connections), "-d", "1s", "--latency",
                    "-s", str(script), f"http://{run.LOOPBACK}:{server.port}/myapp/"]
            return run.run_wrk(argv, 1)


# The nginx configuration comes from `msm nginx-config` (one writer, shared with `msm demo`):
# these tests need the msm that `make test` builds.
DEBUG_MSM = Path(__file__).resolve().parents[2] / ".build" / "debug" / "msm"


@unittest.skipUnless(os.path.exists("/usr/sbin/nginx") or shutil.which("nginx"), "nginx not installed")
@unittest.skipUnless(DEBUG_MSM.exists(), f"{DEBUG_MSM} not built (swift build --product msm)")
class NginxTests(unittest.TestCase):
    def test_config_passes_nginx_t(self) -> None:
        nginx = run.find_tool("nginx", "nginx")
        with tempfile.TemporaryDirectory() as directory:
            temp = Path(directory)
            config = temp / "nginx.conf"
            config.write_text(run.nginx_config(DEBUG_MSM, temp, free_port(), [free_port(), free_port()], 64))
            run.check_nginx_config(nginx, temp, config)  # raises with nginx's message when rejected

    def test_config_contents(self) -> None:
        text = run.nginx_config(DEBUG_MSM, Path("/tmp/x"), 8080, [8081, 8082], 64)
        for expected in ("daemon off;", "worker_processes 1;", "keepalive 64;", "proxy_http_version 1.1;",
                         'proxy_set_header Connection "";', "access_log off;", "pid /tmp/x/nginx.pid;",
                         "server 127.0.0.1:8081 ", "server 127.0.0.1:8082 ", "listen 127.0.0.1:8080;"):
            self.assertIn(expected, text)
        self.assertEqual("user root;" in text, os.geteuid() == 0, "workers run as root only when nginx does")
        self.assertIn("keepalive 200;", run.nginx_config(DEBUG_MSM, Path("/tmp/x"), 8080, [8081], 200))
        for bad_ports in ([], [0], [8081, 70000]):
            with self.assertRaises(run.ScenarioError) as refused:
                run.nginx_config(DEBUG_MSM, Path("/tmp/x"), 8080, bad_ports, 64)
            self.assertIn("--app-ports", str(refused.exception))
        with self.assertRaises(run.ScenarioError) as refused:
            run.nginx_config(DEBUG_MSM, Path("/tmp/x"), 0, [8081], 64)
        self.assertIn("--port", str(refused.exception))

    def test_nginx_proxies_round_robin_and_stops(self) -> None:
        nginx = run.find_tool("nginx", "nginx")
        with tempfile.TemporaryDirectory() as directory, LocalServer() as first, LocalServer() as second:
            temp = Path(directory)
            listen = free_port()
            config = temp / "nginx.conf"
            config.write_text(run.nginx_config(DEBUG_MSM, temp, listen, [first.port, second.port], 64))
            processes = run.Processes(temp, verbose=False)
            try:
                process = processes.start("nginx", run.nginx_argv(nginx, temp, config))
                run.wait_for_health(listen, process, 10, "nginx", processes)
                client = run.HttpClient(listen)
                try:
                    replies = [client.request("GET", "/myapp/", {"Cookie": f"SESSIONID={i}"}) for i in range(4)]
                finally:
                    client.close()
                self.assertEqual([r.status for r in replies], [200] * 4)
            finally:
                processes.stop_all()
            self.assertIsNotNone(process.poll())
            self.assertEqual(processes.running, {})


class RespTests(unittest.TestCase):
    def test_encode(self) -> None:
        self.assertEqual(run.resp_encode("INFO", "commandstats"), b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
        self.assertEqual(run.resp_encode("SET", "k", ""), b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n")

    def test_read_every_kind(self) -> None:
        stream = io.BytesIO(b"+OK\r\n:42\r\n$5\r\nhe\r\no\r\n$-1\r\n*2\r\n$1\r\na\r\n:1\r\n*-1\r\n")
        self.assertEqual([run.resp_read(stream) for _ in range(6)], ["OK", 42, b"he\r\no", None, [b"a", 1], None])
        with self.assertRaises(run.RespError) as caught:
            run.resp_read(io.BytesIO(b"-ERR unknown command\r\n"))
        self.assertEqual(str(caught.exception), "ERR unknown command")

    def test_read_truncated_or_foreign(self) -> None:
        for data in (b"", b"+OK", b"$5\r\nab", b"HTTP/1.1 400\r\n"):
            with self.subTest(data=data), self.assertRaises(ConnectionError):
                run.resp_read(io.BytesIO(data))

    def test_commandstats(self) -> None:
        text = ("# Commandstats\r\ncmdstat_get:calls=7,usec=12,usec_per_call=1.71,rejected_calls=0,failed_calls=0\r\n"
                "cmdstat_set:calls=3,usec=9\r\ncmdstat_info:calls=2,usec=50\r\n")
        self.assertEqual(run.parse_commandstats(text), {"get": 7, "set": 3, "info": 2})

    def test_counter_deltas(self) -> None:
        self.assertEqual(run.counter_deltas({"get": 5}, {"get": 9, "eval": 2}), {"eval": 2, "get": 4})


def redis_installed() -> bool:
    return bool(shutil.which("redis-server")) or any(os.path.exists(p) for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server"))


@unittest.skipUnless(redis_installed(), "redis-server not installed")
class RedisTests(unittest.TestCase):
    def test_start_flush_counters_stop(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            processes = run.Processes(Path(directory), verbose=False)
            try:
                nodes = run.start_redis(processes, run.find_tool("redis-server", "redis-server"), None, 10, Path(directory))
                self.assertEqual([(n.node_id, n.store) for n in nodes], [("r1", "redis"), ("r2", "redis")])
                self.assertNotEqual(nodes[0].port, nodes[1].port)
                self.assertEqual(nodes[1].list_entry, f"r2:redis://127.0.0.1:{nodes[1].port}")
                port = nodes[0].port
                before = run.store_counters(nodes)
                self.assertEqual(run.redis_command(port, "SET", "k", "x", "PX", "60000"), "OK")
                self.assertEqual(run.redis_command(port, "GET", "k"), b"x")
                self.assertEqual(run.redis_command(nodes[1].port, "GET", "k"), None)
                after = run.store_counters(nodes)
                deltas = run.counter_deltas(before, after)
                self.assertEqual(deltas, {**{name: 0 for name in before}, "get": 2, "set": 1}, "INFO and PING not counted")
                run.flush_redis(port)
                self.assertEqual(run.redis_command(port, "DBSIZE"), 0)
                with self.assertRaises(run.RespError):
                    run.redis_command(port, "NOSUCHCOMMAND")
                self.assertEqual(list(Path(directory).glob("*.rdb")) + list(Path(directory).glob("*.aof")), [])
            finally:
                processes.stop_all()
            self.assertTrue(all(node.process is not None and node.process.poll() is not None for node in nodes))
            with self.assertRaises(OSError):
                socket.create_connection((run.LOOPBACK, port), timeout=1).close()

    def test_argv(self) -> None:
        argv = run.redis_argv("/usr/bin/redis-server", 16379, Path("/tmp/x"))
        self.assertEqual(argv[:11], ["/usr/bin/redis-server", "--port", "16379", "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no", "--daemonize", "no"])
        self.assertIn("/tmp/x", argv)


@unittest.skipUnless(shutil.which("memcached") or os.path.exists("/usr/bin/memcached"), "memcached not installed")
class MemcachedTests(unittest.TestCase):
    def test_start_flush_stats_stop(self) -> None:
        with tempfile.TemporaryDirectory() as directory:
            processes = run.Processes(Path(directory), verbose=False)
            try:
                nodes = run.start_memcached(processes, run.find_tool("memcached", "memcached"), None, 10)
                self.assertEqual([n.node_id for n in nodes], ["m1", "m2"])
                self.assertEqual(nodes[0].list_entry, f"m1:127.0.0.1:{nodes[0].port}")
                self.assertNotEqual(nodes[0].port, nodes[1].port)
                port = nodes[0].port
                self.assertEqual(run.memcached_command(port, "set k 0 0 1\r\nx", b"\r\n").strip(), "STORED")
                self.assertIn("VALUE k", run.memcached_command(port, "get k", b"END\r\n"))
                before = run.store_counters(nodes)
                run.memcached_command(port, "get k", b"END\r\n")
                run.memcached_command(nodes[1].port, "ms k2 1\r\ny", b"\r\n")
                after = run.store_counters(nodes)
                self.assertEqual(after["cmd_get"] - before["cmd_get"], 1)
                self.assertEqual(after["cmd_set"] - before["cmd_set"], 1)
                run.flush_memcached(port)
                self.assertEqual(run.memcached_command(port, "get k", b"END\r\n").strip(), "END")
                self.assertEqual(run.memcached_stats(port)["cmd_flush"], 1)
            finally:
                processes.stop_all()
            self.assertTrue(all(node.process is not None and node.process.poll() is not None for node in nodes))
            with self.assertRaises(OSError):
                socket.create_connection((run.LOOPBACK, port), timeout=1).close()

    def test_argv(self) -> None:
        argv = run.memcached_argv("/usr/bin/memcached", 11211)
        self.assertEqual(argv[:10], ["/usr/bin/memcached", "-l", "127.0.0.1", "-p", "11211", "-U", "0", "-m", "256", "-t"])
        self.assertEqual(argv[-2:] == ["-u", "root"], os.geteuid() == 0)


class OutputTests(unittest.TestCase):
    def results(self) -> list[run.ScenarioResult]:
        base = run.ScenarioResult("baseline", True, wrk=run.WrkResult(40_000.0, 200_000, 1.5, 3.25))
        read = run.ScenarioResult("sticky-read", True, wrk=run.WrkResult(38_000.0, 190_000, 1.6, 0.5))
        write = run.ScenarioResult("sticky-write", False, reason="3000 of 100000 requests failed",
                                   wrk=run.WrkResult(20_000.0, 100_000, 3.0, 9.0, non_2xx_3xx=3000))
        broken = run.ScenarioResult("nonsticky-write", False, reason="msm serve (route A) exited with status 1\nmore")
        return [base, read, write, broken]

    def redis_results(self) -> list[run.ScenarioResult]:
        read = run.ScenarioResult("sticky-read", True, wrk=run.WrkResult(36_000.0, 180_000, 1.7, 4.0), store="redis")
        nostart = run.ScenarioResult("sticky-write", False, reason="redis did not start: exited", store="redis")
        return [read, nostart]

    def test_each_framework_is_compared_with_its_own_baseline(self) -> None:
        results = [run.ScenarioResult("baseline", True, wrk=run.WrkResult(40_000.0, 200_000, 1.5, 3.25)),
                   run.ScenarioResult("vapor-baseline", True, wrk=run.WrkResult(20_000.0, 100_000, 1.5, 3.25)),
                   run.ScenarioResult("sticky-read", True, wrk=run.WrkResult(36_000.0, 180_000, 1.6, 0.5)),
                   run.ScenarioResult("vapor-sticky-read", True, wrk=run.WrkResult(18_000.0, 90_000, 1.6, 0.5))]
        run.add_ratios(results)
        self.assertEqual([round(r.ratio_to_baseline, 2) for r in results], [1.0, 1.0, 0.9, 0.9])

    def test_table(self) -> None:
        results = self.results() + self.redis_results()
        run.add_ratios(results)
        table = run.markdown_table(results).splitlines()
        self.assertEqual(table[0], "| store | scenario | req/s | p50 ms | p99 ms | ratio to baseline | errors |")
        self.assertEqual(table[2], "| - | baseline | 40,000 | 1.50 | 3.25 | 1.00 | 0 |")
        self.assertEqual(table[3], "| memcached | sticky-read | 38,000 | 1.60 | 0.500 | 0.95 | 0 |")
        self.assertEqual(table[4], "| memcached | sticky-write | 20,000 | 3.00 | 9.00 | 0.50 | non-2xx 3000 (FAILED) |")
        self.assertEqual(table[5], "| memcached | nonsticky-write | FAILED | | | | msm serve (route A) exited with status 1 |")
        self.assertEqual(table[6], "| redis | sticky-read | 36,000 | 1.70 | 4.00 | 0.90 | 0 |")
        self.assertEqual(table[7], "| redis | sticky-write | FAILED | | | | redis did not start: exited |")

    def test_goals(self) -> None:
        results = self.results()
        run.add_ratios(results)
        self.assertEqual(run.goals_line(results),
                         "Goals (issues 4, 12, 13): sticky-read 0.95 >= 0.9 (met); sticky-write 0.50 < 0.65 (missed).")
        results += self.redis_results()
        run.add_ratios(results)
        self.assertEqual(run.goals_line(results),
                         "Goals (issues 4, 12, 13): sticky-read 0.95 >= 0.9 (met); sticky-write 0.50 < 0.65 (missed); "
                         "sticky-read on redis 0.90 >= 0.9 (met).")

    def test_encryption_is_compared_with_the_same_scenario_on_the_same_store(self) -> None:
        def result(name: str, rate: float, store: str) -> run.ScenarioResult:
            return run.ScenarioResult(name, True, wrk=run.WrkResult(rate, int(rate * 5), 1.0, 2.0), store=store)
        results = [result("sticky-write-1kb", 10_000.0, "memcached"), result("sticky-write-1kb-encrypted", 9_700.0, "memcached"),
                   result("sticky-write-1kb", 20_000.0, "redis"), result("sticky-write-1kb-encrypted", 18_000.0, "redis"),
                   result("nonsticky-write-1kb", 8_000.0, "memcached")]
        self.assertEqual(run.encryption_goals_line(results),
                         "Encryption goals (issue 14): sticky-write-1kb-encrypted (memcached) / sticky-write-1kb 0.97 >= 0.95 (met); "
                         "sticky-write-1kb-encrypted (redis) / sticky-write-1kb 0.90 < 0.95 (missed).")
        self.assertIsNone(run.encryption_goals_line(results[-1:]))
        by_name = {s.name: s for s in run.SCENARIOS}
        self.assertTrue(by_name["nonsticky-write-1kb-encrypted"].encrypted)
        self.assertEqual(by_name["nonsticky-write-1kb-encrypted"].serve_args, by_name["nonsticky-write-1kb"].serve_args)
        self.assertEqual(len(base64.b64decode(run.ENCRYPTION_KEY)), 32)

    def test_rounds_keep_the_median_and_name_the_others(self) -> None:
        def round_result(rate: float) -> run.ScenarioResult:
            return run.ScenarioResult("sticky-write", True, wrk=run.WrkResult(rate, int(rate * 5), 1.0, 2.0))
        chosen = run.median_round([round_result(12_000.0), round_result(9_000.0), round_result(15_000.0)])
        self.assertEqual(chosen.wrk.requests_per_sec, 12_000.0)
        self.assertEqual(chosen.notes, ["median of 3 rounds; req/s in round order: 12,000, 9,000, 15,000"])
        self.assertEqual(run.median_round([round_result(2.0), round_result(1.0)]).wrk.requests_per_sec, 1.0)
        broken = run.ScenarioResult("sticky-write", False, reason="exited")
        self.assertIs(run.median_round([round_result(1.0), broken]), broken)
        self.assertEqual(run.build_parser().parse_args(["--rounds", "3"]).rounds, 3)

    def test_no_baseline_no_ratio(self) -> None:
        results = self.results()[1:]
        run.add_ratios(results)
        self.assertIsNone(results[0].ratio_to_baseline)
        self.assertIn("| n/a |", run.markdown_table(results))

    def test_session_cookie(self) -> None:
        self.assertEqual(run.session_cookie(["SESSIONID=ABC-m1.A; Path=/; HttpOnly"]), "SESSIONID=ABC-m1.A")
        self.assertEqual(run.session_cookie(["other=1; Path=/", "SESSIONID=X-m2; Path=/"]), "SESSIONID=X-m2")
        self.assertEqual(run.session_cookie(["JSESSIONID=Y-m2.B; Path=/"]), "JSESSIONID=Y-m2.B")
        self.assertIsNone(run.session_cookie([]))
        self.assertIsNone(run.session_cookie(["SESSIONID=; Max-Age=0; Path=/"]))


class CounterHandler(FakeDemoHandler):
    """GET /myapp/ counts visits per session like the demo; `serialized` decides whether a
    read-modify-write holds a lock (no update lost) or races (updates lost on purpose)."""

    serialized = True
    visits: dict[str, int] = {}
    lock = threading.Lock()

    def increment(self, session: str) -> int:
        seen = self.visits.get(session, 0)
        threading.Event().wait(0.002)  # a store round trip between read and write
        self.visits[session] = seen + 1
        return seen + 1

    def do_GET(self) -> None:  # noqa: N802
        cookie = self.headers.get("Cookie", "")
        session = cookie.split("=", 1)[1] if cookie.startswith("vapor-session=") else None
        if self.path == "/myapp/":
            headers = {}
            if session is None:
                session = f"s{len(self.visits) + 1}"
                headers["Set-Cookie"] = f"vapor-session={session}; Path=/"
            if self.serialized:
                with self.lock:
                    visits = self.increment(session)
            else:
                visits = self.increment(session)
            self.reply(200, json.dumps({"visits": visits}).encode(), headers)
        elif self.path == "/myapp/attributes/visits" and session in self.visits:
            self.reply(200, str(self.visits[session]).encode())
        else:
            self.reply(404, b"")

    def log_message(self, *args: object) -> None:
        pass


class LostUpdateTests(unittest.TestCase):
    def count(self, serialized: bool) -> run.LostUpdates:
        CounterHandler.serialized = serialized
        CounterHandler.visits = {}
        server = http.server.ThreadingHTTPServer((run.LOOPBACK, 0), CounterHandler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            return run.count_lost_updates(server.server_address[1], writers=6, increments=10)
        finally:
            server.shutdown()
            server.server_close()

    def test_serialized_counter_loses_nothing(self) -> None:
        lost = self.count(serialized=True)
        self.assertEqual((lost.increments_sent, lost.answered_ok, lost.final_visits, lost.lost), (60, 60, 61, 0))

    def test_racing_counter_loses_updates(self) -> None:
        lost = self.count(serialized=False)
        self.assertEqual(lost.answered_ok, 60)
        self.assertGreater(lost.lost, 0)  # six writers, 2 ms between read and write: they overlap
        self.assertEqual(lost.final_visits + lost.lost, 61)

    def test_parse_visits(self) -> None:
        self.assertEqual(run.parse_visits(b"201"), 201)
        self.assertEqual(run.parse_visits(b'"7"\n'), 7)
        with self.assertRaises(run.ScenarioError):
            run.parse_visits(b"no attribute")

    def test_tables_and_cross_goals(self) -> None:
        wrk = run.WrkResult
        results = [
            run.ScenarioResult("vapor-sticky-write", True, wrk=wrk(9_000.0, 45_000, 1.0, 2.0)),
            run.ScenarioResult("vapor-sticky-write", True, wrk=wrk(8_000.0, 40_000, 1.0, 2.0), store="redis"),
            run.ScenarioResult("vapor-stock-memorysessions", True, wrk=wrk(3_000.0, 15_000, 1.0, 2.0)),
            run.ScenarioResult("vapor-stock-fluentsessions", True, wrk=wrk(1_000.0, 5_000, 1.0, 2.0)),
            run.ScenarioResult("lost-updates-locking-all", True, lost_updates=run.LostUpdates(8, 200, 200, 201)),
            run.ScenarioResult("lost-updates-fluentsessions", True, lost_updates=run.LostUpdates(8, 200, 200, 60)),
            run.ScenarioResult("lost-updates-memorysessions", False, reason="VaporSessionsBaseline exited"),
        ]
        self.assertEqual(run.cross_goals_line(results),
                         "Vapor goals (issue 12): vapor-sticky-write (memcached) / vapor-stock-fluentsessions 9.0x < 15x "
                         "(missed); vapor-sticky-write (redis) / vapor-stock-fluentsessions 8.0x < 15x (missed); "
                         "vapor-sticky-write (memcached) / vapor-stock-memorysessions 3.0x >= 1x (met); "
                         "vapor-sticky-write (redis) / vapor-stock-memorysessions 2.7x >= 1x (met); "
                         "lost-updates-locking-all (memcached) lost 0 (met).")
        table = run.lost_updates_table(results).splitlines()
        self.assertEqual(table[4], "| memcached | lost-updates-locking-all | 200 of 200 | 201 | 201 | 0 |")
        self.assertEqual(table[5], "| - | lost-updates-fluentsessions | 200 of 200 | 201 | 60 | 141 |")
        self.assertEqual(table[6], "| - | lost-updates-memorysessions | FAILED | | | VaporSessionsBaseline exited |")
        self.assertNotIn("lost-updates", run.markdown_table(results))  # not throughput rows
        self.assertIsNone(run.lost_updates_table(results[:4]))


PERF_SCRIPT = """\
msm 11888 23780.730954:     500000 cpu-clock:pppH:
\t          4706ed swift_release+0x3d (/opt/swift/usr/lib/swift/linux/libswiftCore.so)
\t         107c847 $s14SessionManagerAAC16storeHoldingGate+0x397 (/repo/msm)
\t           891f5 start_thread+0x305 (/usr/lib/x86_64-linux-gnu/libc.so.6)

msm 11891 23780.732089:     500000 cpu-clock:pppH:
\t          d21962 $s7NIOCore22NIOAsyncChannelHandlerC5readyyF+0xd2 (/repo/msm)
\t           891f5 start_thread+0x305 (/usr/lib/x86_64-linux-gnu/libc.so.6)

msm 11891 23780.733089:     500000 cpu-clock:pppH:
\t          4706ed swift_release+0x3d (/opt/swift/usr/lib/swift/linux/libswiftCore.so)
\t         107c847 $s14SessionManagerAAC16storeHoldingGate+0x397 (/repo/msm)
\t           891f5 start_thread+0x305 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t               0 [unknown] ([unknown])
"""


class FlameGraphTests(unittest.TestCase):
    def test_collapse_counts_stacks_root_first_without_offsets(self) -> None:
        stacks = flamegraph.collapse(PERF_SCRIPT)
        self.assertEqual(stacks["start_thread;$s14SessionManagerAAC16storeHoldingGate;swift_release"], 1)
        self.assertEqual(stacks["[unknown];start_thread;$s14SessionManagerAAC16storeHoldingGate;swift_release"], 1)
        self.assertEqual(stacks["start_thread;$s7NIOCore22NIOAsyncChannelHandlerC5readyyF"], 1)
        self.assertEqual(sum(stacks.values()), 3)

    def test_tree_and_svg(self) -> None:
        root = flamegraph.build_tree(flamegraph.collapse(PERF_SCRIPT))
        self.assertEqual(root.count, 3)
        self.assertEqual(root.children["start_thread"].count, 2)
        svg = flamegraph.render(root, "test <run>", {"$s14SessionManagerAAC16storeHoldingGate": "SessionManager.storeHoldingGate"})
        self.assertTrue(svg.startswith("<svg") and svg.rstrip().endswith("</svg>"))
        self.assertIn("test &lt;run&gt; (3 samples)", svg)
        self.assertIn("<title>SessionManager.storeHoldingGate (33.33%)</title>", svg)
        self.assertIn("<title>[unknown] (33.33%)</title>", svg)
        self.assertIn('fill="#4c9be8"', svg)  # this package's colour, decided on the mangled name
        self.assertIn('fill="#7bc86c"', svg)  # SwiftNIO

    def test_colours(self) -> None:
        self.assertEqual(flamegraph.colour("swift_retain"), "#e8a33d")
        self.assertEqual(flamegraph.colour("$s11Hummingbird6RouterC"), "#b57fd6")
        self.assertEqual(flamegraph.colour("tcp_sendmsg"), "#d9d9d9")


class MemoryTests(unittest.TestCase):
    def test_growth_per_session_and_ratio(self) -> None:
        use = run.MemoryUse(sessions=1000, rss_before_kib=10_000, rss_after_kib=12_000, stored_bytes=1024)
        self.assertAlmostEqual(use.growth_per_session, 2048.0)
        self.assertAlmostEqual(use.ratio, 2.0)

    def test_rss_of_this_process(self) -> None:
        before = run.rss_kib(os.getpid())
        ballast = bytearray(64 * 1024 * 1024)  # touched pages count in RSS
        for index in range(0, len(ballast), 4096):
            ballast[index] = 1
        self.assertGreater(run.rss_kib(os.getpid()), before + 32 * 1024)
        del ballast

    def test_table(self) -> None:
        results = [run.ScenarioResult("sticky-memory", True, memory=run.MemoryUse(100_000, 43_012, 207_804, 1_104)),
                   run.ScenarioResult("sticky-memory", False, store="redis", reason="redis did not start")]
        table = run.memory_table(results).splitlines()
        self.assertEqual(table[4], "| memcached | 43,012 | 207,804 | 1,687 | 1,104 | 1.53 |")
        self.assertEqual(table[5], "| redis | FAILED | | | | redis did not start |")
        self.assertNotIn("sticky-memory", run.markdown_table(results))  # not a throughput row


@unittest.skipUnless(Path("/usr/lib/postgresql").is_dir(), "PostgreSQL (Debian package postgresql) not installed")
class PostgresTests(unittest.TestCase):
    def test_start_accepts_connections_and_stop_removes_it(self) -> None:
        with tempfile.TemporaryDirectory() as logs:
            processes = run.Processes(Path(logs), verbose=False)
            try:
                server = run.start_postgres(processes, cpu=None, timeout=60)
                self.assertTrue(server.url.startswith(f"postgres://bench@127.0.0.1:{server.port}/"))
                with socket.create_connection((run.LOOPBACK, server.port), timeout=5):
                    pass
                run.stop_postgres(processes, server)
                self.assertIsNotNone(server.process.poll())
                self.assertFalse(server.directory.exists())
            finally:
                processes.stop_all()

    def test_as_postgres_user(self) -> None:
        argv = run.as_postgres_user(["initdb"])
        self.assertEqual(argv[-1], "initdb")
        self.assertEqual(argv[0] == "setpriv", os.geteuid() == 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
