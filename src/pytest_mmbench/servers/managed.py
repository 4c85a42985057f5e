"""A server the run starts from a command, waits for, and stops: never an orphan.

The command runs in its own process group (``start_new_session``), so a terminal's
Ctrl-C reaches pytest alone and the plugin stops the server itself: SIGTERM to the whole
group, a grace period, then SIGKILL to the group.  That also takes down what the server
spawned (vLLM's engine core, tokenizer workers).  On Linux the direct child is also
asked to receive SIGTERM if pytest dies without cleaning up (``PR_SET_PDEATHSIG``).

Its output goes to a log file that the report names, and a failed start quotes the
log's last lines, because that is where a server says why it did not come up.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from pytest_mmbench.request.tokenize import server_root
from pytest_mmbench.servers.process_memory import group_rss_mib
from pytest_mmbench.spec.launch import LaunchCommand

LOG_TAIL_LINES = 15
READY_POLL_S = 0.2


class ManagedServerError(RuntimeError):
    """The server did not come up; the message says why, with its log's last lines."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _parent_death_signal() -> Callable[[], None] | None:
    """In the child before exec: SIGTERM it if the parent dies (Linux only).  libc is
    resolved here, in the parent, so the child only makes the one call."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG

    def arm() -> None:
        prctl(set_parent_death_signal, int(signal.SIGTERM))

    return arm


class ManagedServer:
    """One start of one endpoint's server command."""

    def __init__(self, endpoint_id: str, spec: LaunchCommand, base_url: str, log_path: Path):
        self.endpoint_id = endpoint_id
        self.spec = spec
        self.base_url_template = base_url
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None
        self.base_url: str | None = None
        self.started_at: float | None = None  # wall clock, for lining up with windows
        self.ready_at: float | None = None
        self.stopped_at: float | None = None
        self.cold_start_s: float | None = None
        self.stopped_by: str | None = None
        self.exit_code: int | None = None
        self.memory_mib_at_ready: float | None = None  # every process of its group
        self.memory_reason: str | None = None

    def start(self) -> str:
        """Start the command and wait until ``ready`` answers 200; return the base URL."""
        self.port = free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        argv = self.spec.argv(self.port)
        env = {**os.environ, **self.spec.environment(self.port)}
        started = time.perf_counter()
        self.started_at = time.time()
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            try:
                self.process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.spec.cwd,
                    start_new_session=True,
                    preexec_fn=_parent_death_signal(),
                )
            except OSError as exc:
                raise ManagedServerError(f"could not run {argv[0]!r}: {exc}") from None
        root = self.base_url_template.replace("{port}", str(self.port))
        self.base_url = root
        ready_url = server_root(root) + self.spec.ready
        try:
            self._wait_ready(ready_url, started)
        except ManagedServerError:
            self.stop()
            raise
        self.cold_start_s = time.perf_counter() - started
        self.ready_at = time.time()
        assert self.process is not None
        self.memory_mib_at_ready, self.memory_reason = group_rss_mib(self.process.pid)
        return root

    def _wait_ready(self, url: str, started: float) -> None:
        assert self.process is not None
        deadline = started + self.spec.startup_timeout_s
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as http:
            while True:
                code = self.process.poll()
                if code is not None:
                    self.exit_code = code
                    raise ManagedServerError(
                        f"the server command exited with status {code} before {url} answered"
                        + self._tail()
                    )
                try:
                    response = http.get(url)
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                if time.perf_counter() > deadline:
                    raise ManagedServerError(
                        f"{url} was not ready after {self.spec.startup_timeout_s:g} s "
                        f"(last answer: {last}); raise launch.startup_timeout_s if it needs "
                        "longer" + self._tail()
                    )
                time.sleep(READY_POLL_S)

    def _tail(self) -> str:
        """The log's last lines on one line (" | " between them): the error becomes a
        record's message, a JUnit attribute and a terminal line."""
        tail = log_tail(self.log_path).replace("\n", " | ")
        return (
            f"; last lines of {self.log_path}: {tail}"
            if tail
            else f"; log {self.log_path} is empty"
        )

    def stop(self) -> None:
        """SIGTERM to the process group, the grace period, then SIGKILL to the group."""
        process = self.process
        if process is None or self.stopped_at is not None:
            return
        group = process.pid  # start_new_session: the group id is the child's pid
        self.stopped_by = "exited"
        if process.poll() is None:
            self.stopped_by = "SIGTERM"
            _signal_group(group, signal.SIGTERM)
            try:
                process.wait(timeout=self.spec.stop_timeout_s)
            except subprocess.TimeoutExpired:
                self.stopped_by = "SIGKILL"
                _signal_group(group, signal.SIGKILL)
                process.wait(timeout=10)
        _signal_group(group, signal.SIGKILL)  # whatever it spawned and left behind
        self.exit_code = process.returncode
        self.stopped_at = time.time()

    def describe(self) -> dict[str, Any]:
        return {
            "pid": self.process.pid if self.process is not None else None,
            "port": self.port,
            "started_at": self.started_at,
            "ready_at": self.ready_at,
            "stopped_at": self.stopped_at,
            "cold_start_s": self.cold_start_s,
            "stopped_by": self.stopped_by,
            "exit_code": self.exit_code,
            "memory_mib_at_ready": self.memory_mib_at_ready,
            "memory_reason": self.memory_reason,
        }


def _signal_group(group: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(group, sig)
