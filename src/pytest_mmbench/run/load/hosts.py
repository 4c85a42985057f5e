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
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.run.load.engine import ClientHost, PointRun, Target
from pytest_mmbench.run.load.shares import split
from pytest_mmbench.spec.client_hosts import ClientSpec
from pytest_mmbench.spec.load_plan import LoadPoint

CLOCK_PINGS = 8
HELLO_TIMEOUT_S = 60.0
STOP_GRACE_S = 10.0
_GONE = object()  # what a channel's callback gets when the channel closes


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
        try:
            message = self.inbox.get(timeout=timeout_s)
        except queue.Empty:
            raise ClientHostError(f"{self.spec.spec}: no {kind!r} within {timeout_s:g} s") from None
        if message is _GONE:
            raise ClientHostError(f"{self.spec.spec}: {self.gone()}")
        if message[0] != kind:
            raise ClientHostError(f"{self.spec.spec}: sent {message[0]!r}, not {kind!r}")
        return message

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

        if self._clients and all(c.error is None for c in self._clients):
            return self._clients
        self.close()
        self._group = execnet.Group()
        clients = []
        try:
            for spec in self.specs:
                first = self._group.makegateway(spec.spec)
                gateways = [first] + [
                    self._group.makegateway(f"popen//via={first.id}")
                    for _ in range(spec.processes - 1)
                ]
                for gateway in gateways:
                    inbox: queue.Queue[Any] = queue.Queue()
                    channel = gateway.remote_exec(remote)
                    channel.setcallback(inbox.put, endmarker=_GONE)
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
        except BaseException:  # nothing was sent yet; clients left waiting must not linger
            self.close()
            raise
        lead_s = max(0.05, 3 * max(c.rtt_s or 0.0 for c in clients))
        start_at = time.time() + lead_s
        for client in clients:
            client.channel.send(("go", start_at + client.offset_s))
        return _collect(clients, [len(s.indexes) for s in shares])


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


def _collect(clients: list[_Client], given: list[int]) -> PointRun:
    """Every client's records as they come, until each is done or gone."""
    records: list[list[Trace]] = [[] for _ in clients]
    done: list[dict[str, Any] | None] = [None] * len(clients)
    open_ = set(range(len(clients)))
    interrupted, stop_sent = False, 0.0
    while open_:
        try:
            for k in list(open_):
                for message in _drain(clients[k].inbox):
                    if message is _GONE:
                        clients[k].gone()
                        open_.discard(k)
                    elif message[0] == "record":
                        trace = Trace.from_wire(message[1])
                        trace.wall_start -= clients[k].offset_s  # onto our clock
                        records[k].append(trace)
                    elif message[0] == "done":
                        done[k] = message[1]
                        open_.discard(k)
            if stop_sent and time.monotonic() - stop_sent > STOP_GRACE_S:
                break
            time.sleep(0.02)
        except KeyboardInterrupt:
            interrupted, stop_sent = True, time.monotonic()
            for k in open_:
                with contextlib.suppress(Exception):
                    clients[k].channel.send(("stop",))
    return _merge(clients, given, records, done, interrupted)


def _drain(inbox: queue.Queue[Any]) -> list[Any]:
    items = []
    with contextlib.suppress(queue.Empty):
        while True:
            items.append(inbox.get_nowait())
    return items


def _merge(
    clients: list[_Client],
    given: list[int],
    records: list[list[Trace]],
    done: list[dict[str, Any] | None],
    interrupted: bool,
) -> PointRun:
    starts, ends, lost = [], [], 0
    hosts: dict[str, ClientHost] = {}
    for client, count, mine, finished in zip(clients, given, records, done, strict=True):
        if finished is not None:
            start = finished["start_wall"] - client.offset_s
            end = finished["end_wall"] - client.offset_s
        else:  # gone: its span is what it reported
            lost += count - len(mine)
            start = min((t.wall_start for t in mine), default=None)
            end = max((_end_wall(t) for t in mine), default=None)
        if start is not None and end is not None:
            starts.append(start)
            ends.append(end)
        host = hosts.setdefault(
            client.spec.spec,
            ClientHost(
                host=str(client.hello.get("host")),
                spec=client.spec.spec,
                processes=0,
                requests=0,
                clock_offset_ms=client.offset_s * 1e3,
                clock_rtt_ms=client.rtt_s * 1e3 if client.rtt_s is not None else None,
            ),
        )
        host.processes += 1
        host.requests += count
        host.reported += len(mine)
        host.client_cpu_s += finished["client_cpu_s"] if finished else 0.0
        if start is not None and end is not None:
            host.wall_s = max(host.wall_s or 0.0, end - start)
        if finished is None:
            host.status, host.error = "died", client.gone()
        elif finished["interrupted"] and host.status == "ok":
            host.status = "interrupted"
    start_s = min(starts, default=time.time())
    return PointRun(
        records=[t for mine in records for t in mine],
        start_ns=int(start_s * 1e9),
        end_ns=int(max(ends, default=start_s) * 1e9),
        client_cpu_s=sum(h.client_cpu_s for h in hosts.values()),
        processes=len(clients),
        interrupted=interrupted or any(d is not None and d["interrupted"] for d in done),
        hosts=list(hosts.values()),
        lost=lost,
    )


def _end_wall(trace: Trace) -> float:
    if trace.end_ns is None or trace.due_ns is None:
        return trace.wall_start
    return trace.wall_start + (trace.end_ns - trace.due_ns) / 1e9
