"""Gathering one point's records from its client hosts, and merging them into one run.

Each client reports every request as it ends, a heartbeat while it has nothing else to
say, and ``done`` (or ``failed``) at the end.  A client is *died* when its channel
closes, when it reports that it broke, or when nothing at all came from it for
``SILENCE_S`` (a host cut off the network closes nothing).  Ctrl-C here only sets a
flag: the clients are told to stop and what they already sent is kept; a second
Ctrl-C stops waiting for them.
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.run.load.engine import ClientHost, PointRun

if TYPE_CHECKING:
    from pytest_mmbench.run.load.hosts import _Client

GONE = object()  # what a channel's callback gets when the channel closes
STOP_GRACE_S = 10.0
SILENCE_S = 30.0  # clients send a heartbeat every 5 s
POLL_S = 0.02


@contextlib.contextmanager
def sigint_handled_by(handler: Any) -> Iterator[None]:
    """SIGINT goes to ``handler`` meanwhile (only the main thread can set it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Interrupts:
    """Counts Ctrl-C during a point instead of raising in the middle of a merge."""

    def __init__(self) -> None:
        self.count = 0

    def caught(self) -> contextlib.AbstractContextManager[None]:
        return sigint_handled_by(self._note)

    def _note(self, *_: object) -> None:
        self.count += 1


def collect(clients: list[_Client], given: list[int]) -> PointRun:
    """Every client's records as they come, until each is done or gone."""
    records: list[list[Trace]] = [[] for _ in clients]
    done: list[dict[str, Any] | None] = [None] * len(clients)
    heard = [time.monotonic()] * len(clients)
    waiting = set(range(len(clients)))
    interrupts, stop_sent = _Interrupts(), 0.0
    with interrupts.caught():
        while waiting:
            for k in list(waiting):
                finished = _take(clients[k], records[k], done, k)
                if finished:
                    waiting.discard(k)
                elif finished is False:  # something came: it is alive
                    heard[k] = time.monotonic()
                elif time.monotonic() - heard[k] > SILENCE_S:
                    clients[k].error = f"no word from it for {SILENCE_S:g} s (host down or cut off)"
                    waiting.discard(k)
            now = time.monotonic()
            if interrupts.count and not stop_sent:
                stop_sent = now
                for k in waiting:
                    with contextlib.suppress(Exception):
                        clients[k].channel.send(("stop",))
            if interrupts.count > 1 or (stop_sent and now - stop_sent > STOP_GRACE_S):
                break
            time.sleep(POLL_S)
    for k in waiting:  # stopped, but no end reported in time
        clients[k].error = f"no end reported within {STOP_GRACE_S:g} s of the stop"
    return merge(clients, given, records, done, bool(interrupts.count))


def _take(client: _Client, mine: list[Trace], done: list[Any], k: int) -> bool | None:
    """Handle what arrived from one client: True when it has finished or gone, False
    when it said something (a record, a heartbeat), None when it said nothing."""
    heard: bool | None = None
    while True:
        try:
            message = client.inbox.get_nowait()
        except queue.Empty:
            return heard
        heard = False
        if message is GONE:
            client.gone()
            return True
        kind = message[0]
        if kind == "record":
            trace = Trace.from_wire(message[1])
            trace.wall_start -= client.offset_s  # onto our clock
            mine.append(trace)
        elif kind == "done":
            done[k] = message[1]
            return True
        elif kind == "failed":
            client.error = f"the client broke: {message[1]}"
            return True


def merge(
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
        if finished is None and not interrupted:
            host.status, host.error = "died", client.gone()
        elif finished is None or finished["interrupted"]:
            if host.status == "ok":
                host.status = "interrupted"
            if finished is None:
                host.error = client.gone()
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
