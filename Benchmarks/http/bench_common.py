"""What every part of the HTTP benchmark shares: its errors, progress lines, loopback, tools."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"
# memcached `stats` counters that count the store commands msm sends (meta commands included).
STORE_COUNTERS = ("cmd_get", "cmd_set", "cmd_touch", "delete_hits", "delete_misses")
# Redis commands the benchmark itself (or a connection handshake) sends: not session traffic.
REDIS_OWN_COMMANDS = frozenset({"info", "flushall", "flushdb", "ping", "quit", "hello", "auth", "select",
                                "client", "command", "config"})
_START = time.monotonic()

# Node ids per store, failover node first (as `msm demo` names them).
NODE_IDS = {"memcached": ("m1", "m2"), "redis": ("r1", "r2")}



class SetupError(Exception):
    """Something the benchmark needs is missing or unusable; stops the whole run (exit 2)."""


class ScenarioError(Exception):
    """One scenario could not run; the others still do (exit 1)."""


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived; unwinds like Ctrl-C so everything gets cleaned up."""


def find_tool(name: str, package: str) -> str:
    """An executable on PATH or in /usr/sbin, /usr/bin (nginx lives in /usr/sbin on Debian)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/bin", "/sbin"):
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise SetupError(
        f"`{name}` not found on PATH, /usr/sbin or /usr/bin: install the Debian package `{package}` "
        f"(apt-get install {package}, or scripts/install-deps.sh bench)"
    )


def progress(message: str) -> None:
    print(f"[bench {time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)
