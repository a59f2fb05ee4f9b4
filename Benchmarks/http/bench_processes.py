"""The processes the HTTP benchmark starts (servers, wrk): free ports, CPU pinning, stopping them all."""

from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import time
from pathlib import Path
from bench_common import *  # noqa: F401,F403
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)



def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all bound at once, so they differ; released before use)."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if this script dies without cleaning up (Linux), and
    none of the signals blocked by Processes.start stays blocked in it."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv


class Processes:
    """Every long-running process this script started; stops them by PID, never by name."""

    def __init__(self, log_dir: Path, verbose: bool) -> None:
        self.log_dir = log_dir
        self.verbose = verbose
        self.running: dict[int, tuple[str, subprocess.Popen[bytes], Path]] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log_path = self.log_dir / f"{name}.log"
        if self.verbose:
            progress(f"  $ {' '.join(argv)}")
        # Signals wait until the process is registered, so an interrupt cannot orphan it.
        previous_mask = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        try:
            with open(log_path, "ab") as log:
                process = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                    start_new_session=True,  # Ctrl-C reaches only this script, which stops them in order
                    preexec_fn=_die_with_parent,
                )
            self.running[process.pid] = (name, process, log_path)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous_mask)
        return process

    def log_tail(self, process: subprocess.Popen[bytes], lines: int = 15) -> str:
        entry = self.running.get(process.pid)
        if entry is None:
            return ""
        try:
            text = entry[2].read_text(errors="replace").rstrip()
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL."""
        if process.poll() is None:
            try:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                name = self.running.get(process.pid, ("?",))[0]
                progress(f"  {name} (pid {process.pid}) ignored SIGTERM for {grace:.0f} s: SIGKILL")
                process.kill()
                process.wait(timeout=grace)
            except ProcessLookupError:
                pass
        self.running.pop(process.pid, None)

    def stop_all(self) -> None:
        for _, process, _ in reversed(list(self.running.values())):
            self.stop(process)


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ScenarioError(f"{what} exited with status {process.returncode} before accepting on port {port}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ScenarioError(f"{what} did not accept connections on port {port} within {timeout:.0f} s") from None
            time.sleep(0.05)
