"""PostgreSQL for the Vapor `FluentSessions` baseline: a throw-away cluster in a temp directory on
a free loopback port, started and stopped by the benchmark (Debian package `postgresql`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench_common import *  # noqa: F401,F403
from bench_processes import *  # noqa: F401,F403

POSTGRES_USER = "bench"
# Durability off (no fsync, asynchronous commit): FluentSessions at its fastest, so the
# comparison flatters the baseline, never us.
POSTGRES_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off", f"listen_addresses={LOOPBACK}",
                     "max_connections=100", "shared_buffers=128MB")


@dataclass
class PostgresServer:
    port: int
    process: subprocess.Popen[bytes]
    directory: Path

    @property
    def url(self) -> str:
        return f"postgres://{POSTGRES_USER}@{LOOPBACK}:{self.port}/postgres?sslmode=disable"


def postgres_bin_dir() -> Path:
    """The newest /usr/lib/postgresql/<version>/bin (Debian keeps initdb and postgres there)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p for p in root.glob("*/bin") if (p / "initdb").is_file()),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not versions:
        raise SetupError("PostgreSQL not found under /usr/lib/postgresql: install the Debian package `postgresql` "
                         "(apt-get install postgresql, or scripts/install-deps.sh bench)")
    return versions[-1]


def as_postgres_user(argv: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as Debian's `postgres` user
    (setpriv execs, so the PID the benchmark stops is the server's own)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *argv]


def postgres_argv(bin_dir: Path, data: Path, socket_dir: Path, port: int) -> list[str]:
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(socket_dir)]
    for setting in POSTGRES_SETTINGS:
        argv += ["-c", setting]
    return argv


def start_postgres(processes: Processes, cpu: int | None, timeout: float) -> PostgresServer:
    bin_dir = postgres_bin_dir()
    directory = Path(tempfile.mkdtemp(prefix="msm-bench-postgres-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    data = directory / "data"
    init = subprocess.run(as_postgres_user([str(bin_dir / "initdb"), "-D", str(data), "-U", POSTGRES_USER,
                                            "--auth=trust", "-E", "UTF8", "--no-sync"]),
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    if init.returncode != 0:
        shutil.rmtree(directory, ignore_errors=True)
        raise ScenarioError(f"initdb failed: {(init.stderr or init.stdout).strip()[-500:]}")
    port = free_ports(1)[0]
    process = processes.start("postgres", pinned(as_postgres_user(postgres_argv(bin_dir, data, directory, port)), cpu))
    wait_for_port(port, process, timeout, "postgres")
    time.sleep(0.2)  # accepting is not yet ready for queries on a brand-new cluster
    progress(f"postgres {bin_dir.parent.name} on {LOOPBACK}:{port} (pid {process.pid}), data in {data}")
    return PostgresServer(port, process, directory)


def stop_postgres(processes: Processes, server: PostgresServer) -> None:
    processes.stop(server.process, grace=15.0)
    shutil.rmtree(server.directory, ignore_errors=True)
