"""memcached and redis-server for the HTTP benchmark: started, flushed and counted over their own
protocols (a few lines of text commands and RESP, not a client library)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import *  # noqa: F401,F403
from bench_processes import *  # noqa: F401,F403


@dataclass
class StoreNode:
    node_id: str
    port: int
    process: subprocess.Popen[bytes] | None
    store: str = "memcached"

    @property
    def list_entry(self) -> str:
        """This node in `--memcached-nodes` syntax: `m1:127.0.0.1:P` or `r1:redis://127.0.0.1:P`."""
        if self.store == "redis":
            return f"{self.node_id}:redis://{LOOPBACK}:{self.port}"
        return f"{self.node_id}:{LOOPBACK}:{self.port}"


def memcached_command_bytes(port: int, command: str, timeout: float = 5.0) -> bytes:
    """Sends one meta command and reads its whole reply: the header line and, for `VA <size>`,
    that many bytes and their CRLF."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(command.encode() + b"\r\n")
        data = b""
        while True:
            header, separator, rest = data.partition(b"\r\n")
            if separator and (not header.startswith(b"VA ") or len(rest) >= int(header.split()[1]) + 2):
                return data
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


def memcached_command(port: int, command: str, terminator: bytes, timeout: float = 5.0) -> str:
    """Sends one text-protocol command and reads up to (and including) `terminator`."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(command.encode() + b"\r\n")
        data = b""
        while not data.endswith(terminator):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.decode(errors="replace")


def flush_memcached(port: int) -> None:
    reply = memcached_command(port, "flush_all", b"\r\n")
    if reply.strip() != "OK":
        raise ScenarioError(f"memcached on port {port} answered {reply.strip()!r} to flush_all")


def memcached_stats(port: int) -> dict[str, int]:
    stats: dict[str, int] = {}
    for line in memcached_command(port, "stats", b"END\r\n").splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "STAT" and parts[2].isdigit():
            stats[parts[1]] = int(parts[2])
    return stats


def store_counters(nodes: Sequence[StoreNode]) -> dict[str, int]:
    """Session commands so far, summed over `nodes`: memcached's STORE_COUNTERS, or Redis's
    calls per command (without REDIS_OWN_COMMANDS)."""
    totals: dict[str, int] = {}
    for node in nodes:
        if node.store == "redis":
            counts = {name: calls for name, calls in redis_command_calls(node.port).items() if name not in REDIS_OWN_COMMANDS}
        else:
            stats = memcached_stats(node.port)
            counts = {name: stats.get(name, 0) for name in STORE_COUNTERS}
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + value
    return totals


def counter_deltas(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """`after - before` per counter; a Redis command first used in between counts from 0."""
    return {name: after.get(name, 0) - before.get(name, 0) for name in sorted(set(before) | set(after))}


def flush_store(node: StoreNode) -> None:
    if node.store == "redis":
        flush_redis(node.port)
    else:
        flush_memcached(node.port)


def memcached_argv(binary: str, port: int) -> list[str]:
    argv = [binary, "-l", LOOPBACK, "-p", str(port), "-U", "0", "-m", "256", "-t", "1"]
    if os.geteuid() == 0:
        argv += ["-u", "root"]  # memcached refuses to run as root without it
    return argv


def start_memcached(processes: Processes, binary: str, cpu: int | None, timeout: float) -> list[StoreNode]:
    nodes = []
    for node_id, port in zip(NODE_IDS["memcached"], free_ports(2)):
        process = processes.start(f"memcached-{node_id}", pinned(memcached_argv(binary, port), cpu))
        wait_for_port(port, process, timeout, f"memcached {node_id}")
        nodes.append(StoreNode(node_id, port, process))
        progress(f"memcached {node_id} on {LOOPBACK}:{port} (pid {process.pid})")
    return nodes


class RespError(Exception):
    """A Redis error reply (`-ERR ...`)."""


def resp_encode(*arguments: str) -> bytes:
    """One command as a RESP array of bulk strings."""
    parts = [f"*{len(arguments)}\r\n".encode()]
    for argument in arguments:
        data = argument.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def resp_read(stream: Any) -> Any:
    """Reads one reply from a binary file-like `stream`: str for simple strings, int, bytes or
    None for bulk strings, list for arrays; an error reply raises RespError."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError(f"Redis closed the connection mid-reply ({line!r})")
    kind, payload = line[:1], line[1:-2]
    if kind == b"+":
        return payload.decode()
    if kind == b"-":
        raise RespError(payload.decode(errors="replace"))
    if kind == b":":
        return int(payload)
    if kind == b"$":
        length = int(payload)
        if length < 0:
            return None
        data = stream.read(length + 2)
        if len(data) != length + 2:
            raise ConnectionError("Redis closed the connection mid-reply")
        return data[:-2]
    if kind == b"*":
        count = int(payload)
        return None if count < 0 else [resp_read(stream) for _ in range(count)]
    raise ConnectionError(f"not a RESP reply: {line[:80]!r}")


def redis_command(port: int, *arguments: str, timeout: float = 5.0) -> Any:
    """Sends one command to the Redis on `port` and returns its reply (see resp_read)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(resp_encode(*arguments))
        with s.makefile("rb") as stream:
            return resp_read(stream)


def flush_redis(port: int) -> None:
    reply = redis_command(port, "FLUSHALL")
    if reply != "OK":
        raise ScenarioError(f"redis-server on port {port} answered {reply!r} to FLUSHALL")


def parse_commandstats(text: str) -> dict[str, int]:
    """`INFO commandstats` as calls per command: `cmdstat_get:calls=3,usec=...` -> {"get": 3}."""
    calls: dict[str, int] = {}
    for line in text.splitlines():
        match = re.match(r"^cmdstat_([^:]+):(?:.*,)?calls=(\d+)", line)
        if match:
            calls[match.group(1)] = int(match.group(2))
    return calls


def redis_command_calls(port: int) -> dict[str, int]:
    reply = redis_command(port, "INFO", "commandstats")
    return parse_commandstats(reply.decode(errors="replace") if isinstance(reply, bytes) else "")


def redis_argv(binary: str, port: int, directory: Path) -> list[str]:
    """Loopback only, nothing persisted, 256 MB evicting least recently used keys (memcached -m
    256 alike); logs to stdout, i.e. the log file Processes gives it."""
    return [binary, "--port", str(port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--logfile", "", "--dir", str(directory),
            "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"]


def wait_for_redis(port: int, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    """Until PING answers PONG (a Redis accepting connections may still be LOADING)."""
    wait_for_port(port, process, timeout, what)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if redis_command(port, "PING") == "PONG":
                return
            last = "no PONG"
        except (OSError, RespError) as error:
            last = str(error)
        if process.poll() is not None:
            raise ScenarioError(f"{what} exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise ScenarioError(f"{what} did not answer PING within {timeout:.0f} s (last: {last})")
        time.sleep(0.05)


def start_redis(processes: Processes, binary: str, cpu: int | None, timeout: float, directory: Path) -> list[StoreNode]:
    nodes = []
    for node_id, port in zip(NODE_IDS["redis"], free_ports(2)):
        process = processes.start(f"redis-{node_id}", pinned(redis_argv(binary, port, directory), cpu))
        wait_for_redis(port, process, timeout, f"redis-server {node_id}")
        nodes.append(StoreNode(node_id, port, process, store="redis"))
        progress(f"redis-server {node_id} on {LOOPBACK}:{port} (pid {process.pid})")
    return nodes
