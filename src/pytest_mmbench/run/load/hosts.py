"""Load points run from client processes on other hosts, over execnet gateways.

``--mm-clients="socket=10.0.0.2:8888;2*ssh=bench@box2//python=/opt/venv/bin/python"``
names the client hosts as execnet specs, the ones pytest-xdist's ``--tx`` takes
(docs/scaling.md says why this engine).  ``N*`` runs N client processes on that host
(``popen//via=`` gateways behind the first).  The gateways open on the first load
point and stay up for the session.

Per point: every client gets its share (:mod:`.shares`) and warms up; the clocks are
pinged (NTP-style: the reply with the shortest round trip gives the offset); then all
start at one instant of our wall clock, each converted to its host's clock.  Every
request comes back as its raw trace the moment it ends, and each trace's wall-clock
start is moved onto our clock; per-request durations stay host-local monotonic
differences.  A client that dies keeps what it handed over; the point is ``partial``
and counts what was lost with it.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pytest_mmbench.run.load.engine import PointRun, Target
from pytest_mmbench.run.load.gather import GONE, collect, sigint_handled_by
from pytest_mmbench.run.load.shares import split
from pytest_mmbench.spec.client_hosts import ClientSpec
from pytest_mmbench.spec.load_plan import LoadPoint

CLOCK_PINGS = 8
HELLO_TIMEOUT_S = 60.0


class ClientHostError(Exception):
    """A client host could not be reached or set up; the message says which and why."""


@dataclass
class _Client:
    spec: ClientSpec
    gateway: Any
    channel: Any
    inbox: queue.Queue[Any]
    hello: dict[str, Any]
    offset_s: float = 0.0
    rtt_s: float | None = None
    error: str | None = None

    def expect(self, kind: str, timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                message = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise ClientHostError(
                    f"{self.spec.spec}: no {kind!r} within {timeout_s:g} s"
                ) from None
            if message is GONE:
                raise ClientHostError(f"{self.spec.spec}: {self.gone()}")
            if message[0] == "alive":  # a heartbeat
                continue
            if message[0] == "failed":
                raise ClientHostError(f"{self.spec.spec}: the client broke: {message[1]}")
            if message[0] != kind:
                raise ClientHostError(f"{self.spec.spec}: sent {message[0]!r}, not {kind!r}")
            return message

    def usable(self) -> bool:
        """Alive, and nothing but heartbeats left over from an earlier point."""
        while True:
            try:
                message = self.inbox.get_nowait()
            except queue.Empty:
                return self.error is None and not self.channel.isclosed()
            if message is GONE or message[0] != "alive":
                return False

    def gone(self) -> str:
        if self.error is None:
            remote = self.channel._getremoteerror() if self.channel is not None else None
            last = str(remote).strip().splitlines()[-1] if remote else ""
            self.error = f"the client process ended ({last or 'connection lost'})"
        return self.error


class ClientHosts:
    """The session's client hosts: gateways opened on first use, closed at the end."""

    def __init__(self, specs: list[ClientSpec]) -> None:
        self.specs = specs
        self._group: Any = None
        self._clients: list[_Client] = []

    @property
    def remote(self) -> bool:
        return any(spec.remote for spec in self.specs)

    def check_reachable(self, url: str) -> None:
        host = urlsplit(url).hostname or ""
        if self.remote and (host in ("localhost", "::1") or host.startswith("127.")):
            raise ClientHostError(
                f"the endpoint's URL {url} is on loopback, which clients on other hosts "
                "cannot reach; give the endpoint a base_url they can reach"
            )

    def open(self) -> list[_Client]:
        """Gateways to every client, re-opened where one died in an earlier point."""
        import execnet

        from pytest_mmbench.run.load import remote

        if self._clients and all(c.usable() for c in self._clients):
            return self._clients
        self.close()
        self._group = execnet.Group()
        clients = []
        try:
            for spec in self.specs:
                # SIGINT ignored while they start, which ssh and popen children inherit:
                # the terminal's Ctrl-C reaches our whole process group, and is ours to
                # pass on as "stop"
                with sigint_handled_by(signal.SIG_IGN):
                    first = self._group.makegateway(spec.spec)
                    # several processes: the first only relays, as execnet writes each
                    # socket from one thread and a relay's own records would interleave
                    gateways = (
                        [
                            self._group.makegateway(f"popen//via={first.id}")
                            for _ in range(spec.processes)
                        ]
                        if spec.processes > 1
                        else [first]
                    )
                for gateway in gateways:
                    inbox: queue.Queue[Any] = queue.Queue()
                    channel = gateway.remote_exec(remote)
                    channel.setcallback(inbox.put, endmarker=GONE)
                    client = _Client(spec, gateway, channel, inbox, {})
                    client.hello = client.expect("hello", HELLO_TIMEOUT_S)[1]
                    _check_version(client)
                    clients.append(client)
        except (OSError, EOFError, execnet.HostNotFound, execnet.DataFormatError) as exc:
            self.close()
            raise ClientHostError(f"cannot open the client hosts: {exc}") from None
        except ClientHostError:
            self.close()
            raise
        self._clients = clients
        return clients

    def close(self) -> None:
        for client in self._clients:
            with contextlib.suppress(Exception):
                client.channel.send(("close",))
        if self._group is not None:
            with contextlib.suppress(Exception):
                self._group.terminate(timeout=5.0)
        self._group, self._clients = None, []

    def run(self, target: Target, point: LoadPoint, bodies: list[bytes]) -> PointRun:
        self.check_reachable(target.url)
        clients = self.open()
        shares = split(point, bodies, len(clients))
        clients = clients[: len(shares)]
        try:
            for client, share in zip(clients, shares, strict=True):
                client.channel.send(("share", target.__dict__, share.to_wire()))
            for client in clients:
                client.expect("ready", target.timeout_s + HELLO_TIMEOUT_S)
            for client in clients:
                _measure_clock(client)
            lead_s = max(0.05, 3 * max(c.rtt_s or 0.0 for c in clients))
            start_at = time.time() + lead_s
            for client in clients:
                client.channel.send(("go", start_at + client.offset_s))
        except (OSError, EOFError) as exc:  # a client went away before the start
            self.close()
            raise ClientHostError(f"a client host went away before the start: {exc}") from None
        except BaseException:  # clients left waiting for "go" must not linger
            self.close()
            raise
        return collect(clients, [len(s.indexes) for s in shares])


def _check_version(client: _Client) -> None:
    import pytest_mmbench

    theirs, ours = client.hello.get("version"), pytest_mmbench.__version__
    if theirs != ours:
        raise ClientHostError(
            f"{client.spec.spec}: pytest-mmbench {theirs} is installed there and {ours} "
            f"here; install {ours} on the client host so requests are timed alike"
        )


def _measure_clock(client: _Client) -> None:
    """Offset of the client's wall clock from ours, from the fastest of a few pings."""
    best: tuple[float, float] | None = None
    for _ in range(CLOCK_PINGS):
        sent = time.time()
        client.channel.send(("clock",))
        theirs = client.expect("clock", HELLO_TIMEOUT_S)[1]
        back = time.time()
        rtt = back - sent
        if best is None or rtt < best[0]:
            best = (rtt, theirs - (sent + back) / 2)
    assert best is not None
    client.rtt_s, client.offset_s = best
