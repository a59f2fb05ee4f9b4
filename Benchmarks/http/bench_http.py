"""A small HTTP/1.1 client for the HTTP benchmark's setup: health checks and session creation."""

from __future__ import annotations

import http.client
import subprocess
import time
from dataclasses import dataclass
from bench_common import *  # noqa: F401,F403
from bench_processes import *  # noqa: F401,F403


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header_values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]


class HttpClient:
    """One keep-alive connection; reconnects once when the server closed it."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> Reply:
        for attempt in (1, 2):
            try:
                self.connection.request(method, path, body=body, headers=headers or {})
                response = self.connection.getresponse()
                return Reply(response.status, response.getheaders(), response.read())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, http.client.CannotSendRequest):
                self.connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.connection.close()


def wait_for_health(port: int, process: subprocess.Popen[bytes], timeout: float, what: str, processes: Processes) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = processes.log_tail(process)
            raise ScenarioError(f"{what} exited with status {process.returncode} before answering /health"
                                + (f"\nits output ends with:\n{tail}" if tail else ""))
        client = HttpClient(port, timeout=2)
        try:
            reply = client.request("GET", "/health")
            if reply.status == 200:
                return
            last = f"status {reply.status}"
        except OSError as error:
            last = str(error)
        finally:
            client.close()
        time.sleep(0.1)
    raise ScenarioError(f"{what} did not answer GET /health with 200 within {timeout:.0f} s (last: {last})")


def session_cookie(set_cookie_values: list[str], preferred_name: str = "SESSIONID") -> str | None:
    """`name=value` of the session cookie among Set-Cookie headers: the one named
    `preferred_name`, else the only one; None when no cookie was set."""
    pairs = [value.split(";", 1)[0].strip() for value in set_cookie_values]
    pairs = [pair for pair in pairs if "=" in pair and pair.split("=", 1)[1]]
    named = [pair for pair in pairs if pair.split("=", 1)[0] == preferred_name]
    if named:
        return named[-1]
    return pairs[0] if len(pairs) == 1 else None
