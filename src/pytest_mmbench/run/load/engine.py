"""Running a load point: one asyncio loop and connection pool, or several processes.

The point is split into shares (:mod:`.shares`); each client process runs its share
with :func:`run_share`, which is the same code on this host, in a local process pool
(``--mm-processes``) and on other hosts (``--mm-clients``, :mod:`.hosts`).  Clients
start together: local processes meet at a barrier after their warm-up, remote ones at
a wall-clock instant corrected by each host's measured clock offset.

The client's own CPU is measured as the loop thread's CPU time (``time.thread_time``),
not the process's: with an embedded server the process also holds the server's
threads.  A client that used nearly a full core is flagged ``client_bound``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import ConnectionPool, Post, schedule
from pytest_mmbench.request.transport_async import open_connections
from pytest_mmbench.run.load.shares import Share, split
from pytest_mmbench.spec.load_plan import LoadPoint

START_BARRIER_TIMEOUT_S = 120.0


@dataclass
class ClientHost:
    """What one host's client processes did during a point (its own clock and CPU)."""

    host: str
    spec: str  # how it was reached: "local", or an execnet gateway spec
    processes: int
    requests: int  # given to it
    reported: int = 0  # came back, completed or not
    client_cpu_s: float = 0.0
    wall_s: float | None = None  # its own first start to its last end
    clock_offset_ms: float | None = None  # its wall clock minus ours (None: this host)
    clock_rtt_ms: float | None = None  # round trip of the ping the offset came from
    status: str = "ok"  # ok | interrupted | died
    error: str | None = None

    def describe(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class PointRun:
    records: list[Trace]
    start_ns: int  # the point's start and end on one clock (local: perf_counter; hosts:
    end_ns: int  # our wall clock, each host's times corrected by its offset)
    client_cpu_s: float
    processes: int
    interrupted: bool = False  # Ctrl-C: the requests completed before it are kept
    hosts: list[ClientHost] = field(default_factory=list)
    lost: int = 0  # given to a client that died before reporting them


@dataclass(frozen=True)
class Target:
    url: str  # .../chat/completions
    headers: dict[str, str]
    timeout_s: float
    # One unrecorded request per client process before timing: the first request of a
    # fresh process pays ~20 ms of first-use code paths (measured), which no recorded
    # request should carry.
    warmup: bytes | None = None


@dataclass
class ShareControl:
    """How a share is started, reported and stopped from outside its loop thread."""

    wait_for_start: Callable[[], None] | None = None  # after warm-up, before timing
    on_record: Callable[[Trace], None] | None = None  # each request as it ends
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[None] | None = None

    def cancel(self) -> None:
        """Stop the share from another thread; requests that ended are kept."""
        if self.loop is not None and self.task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self.loop.call_soon_threadsafe(self.task.cancel)


def run_point(target: Target, point: LoadPoint, bodies: list[bytes]) -> PointRun:
    """The point on this host: in this process, or spread over ``point.processes``."""
    shares = split(point, bodies, point.processes)
    if len(shares) == 1:
        run = run_share(target, shares[0])
        run.hosts = [_local_host(run, len(bodies))]
        return run
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(shares))
    interrupted = False
    runs: list[PointRun] = []
    with ProcessPoolExecutor(
        max_workers=len(shares), mp_context=context, initializer=_hold, initargs=(barrier,)
    ) as pool:
        futures = [pool.submit(_run_in_child, target, share) for share in shares]
        for future in futures:
            try:
                try:
                    runs.append(future.result())
                except KeyboardInterrupt:  # the children got it too: they return their part
                    interrupted = True
                    runs.append(future.result())
            except (BrokenProcessPool, KeyboardInterrupt):  # a child died: its part is lost
                interrupted = True
        pool.shutdown(cancel_futures=True)
    if not runs:
        raise KeyboardInterrupt  # nothing came back from any client process
    run = PointRun(
        records=[r for run in runs for r in run.records],
        start_ns=min(run.start_ns for run in runs),
        end_ns=max(run.end_ns for run in runs),
        client_cpu_s=sum(run.client_cpu_s for run in runs),
        processes=len(runs),
        interrupted=interrupted or any(run.interrupted for run in runs),
    )
    run.hosts = [_local_host(run, len(bodies))]
    return run


def _local_host(run: PointRun, requests: int) -> ClientHost:
    return ClientHost(
        host=socket.gethostname(),
        spec="local",
        processes=run.processes,
        requests=requests,
        reported=len(run.records),
        client_cpu_s=run.client_cpu_s,
        wall_s=(run.end_ns - run.start_ns) / 1e9,
        status="interrupted" if run.interrupted else "ok",
    )


_start_barrier: Any = None  # set in each pool process by _hold


def _hold(barrier: Any) -> None:
    global _start_barrier
    _start_barrier = barrier


def _run_in_child(target: Target, share: Share) -> PointRun:
    def meet() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):  # a sibling never came
            _start_barrier.wait(START_BARRIER_TIMEOUT_S)

    try:
        return run_share(target, share, ShareControl(wait_for_start=meet))
    finally:  # a sibling stopped in its warm-up (Ctrl-C) must not hold the others there
        _start_barrier.abort()


def run_share(target: Target, share: Share, control: ShareControl | None = None) -> PointRun:
    """One client's share, in this thread's own event loop."""
    control = control or ShareControl()
    # both moved on by _drive once warm-up is done: set-up and warm-up are not the point's
    started, cpu_started = [time.perf_counter_ns()], [time.thread_time()]
    records: list[Trace] = []
    interrupted = False
    try:
        run_loop(_drive(target, share, records, (started, cpu_started), control))
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
        for record in records:
            if record.end_ns is None:
                record.fail("interrupted", "interrupted (Ctrl-C) before the response ended")
    end = time.perf_counter_ns()
    return PointRun(
        records=records,
        start_ns=started[0],
        end_ns=end,
        client_cpu_s=time.thread_time() - cpu_started[0],
        processes=1,
        interrupted=interrupted,
    )


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run``, on uvloop where it is installed (a dependency except on Windows).

    At concurrency 256 against the synthetic server, uvloop's loop in C raised one
    client's median from about 51,600 to 60,400 chunks per CPU-second on a 16-core Xeon
    (6 runs each, taking turns).  asyncio.Runner keeps ``asyncio.run``'s Ctrl-C
    handling (the main task is cancelled), which needs Python 3.11; 3.10 stays on asyncio.
    """
    try:
        from uvloop import new_event_loop
    except ImportError:
        new_event_loop = None  # type: ignore[assignment]
    if new_event_loop is None or sys.version_info < (3, 11):
        asyncio.run(main)
        return
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(main)


async def _drive(
    target: Target,
    share: Share,
    records: list[Trace],
    starts: tuple[list[int], list[float]],
    control: ShareControl,
) -> None:
    """Warm up, wait for the start, then run the share closed- or open-loop.

    One keep-alive pool for the share's slots, and new connections for resends
    (:func:`~pytest_mmbench.request.transport_async.open_connections`).  httpx's pool
    was quadratic in its size, which had forced one client per slot; ours takes an
    idle connection from a list.
    """
    control.loop, control.task = asyncio.get_running_loop(), asyncio.current_task()
    connections = open_connections(target.url, share.slots, target.timeout_s)
    try:
        if target.warmup is not None:
            ignored = Trace(index=-1, due_ns=time.perf_counter_ns())
            warmup = Post(target.url, target.warmup, target.headers, target.timeout_s)
            await connections.stream(warmup, ignored)
        if control.wait_for_start is not None:
            control.wait_for_start()  # blocks the loop on purpose: nothing runs yet
        started, cpu_started = starts
        started[0] = time.perf_counter_ns()  # the point's wall time starts here
        cpu_started[0] = time.thread_time()
        deadline = (
            started[0] + int(share.duration_s * 1e9) if share.duration_s is not None else None
        )
        send = _Sender(connections, target, records, control.on_record)
        if share.due_s is None:
            await _closed(share, deadline, send)
        else:
            await _open(share, started[0], deadline, send)
    finally:
        await connections.close()


class _Sender:
    """Sends one request of the share and records it; reports it when it ends."""

    def __init__(
        self,
        connections: ConnectionPool,
        target: Target,
        records: list[Trace],
        on_record: Callable[[Trace], None] | None,
    ) -> None:
        self.connections, self.target = connections, target
        self.records, self.on_record = records, on_record

    async def __call__(self, index: int, body: bytes, due: int) -> None:
        record = schedule(Trace(index=index), due)
        self.records.append(record)
        t = self.target
        await self.connections.stream(Post(t.url, body, t.headers, t.timeout_s), record)
        if self.on_record is not None:
            self.on_record(record)


async def _closed(share: Share, deadline: int | None, send: _Sender) -> None:
    """One worker per slot, each sending its next request as soon as its last one ends."""
    queue = iter(range(len(share.bodies)))

    async def worker() -> None:
        for i in queue:
            now = time.perf_counter_ns()
            if deadline is not None and now > deadline:
                return
            await send(share.indexes[i], share.bodies[i], now)

    await asyncio.gather(*(worker() for _ in range(max(1, share.slots))))


async def _open(share: Share, start: int, deadline: int | None, send: _Sender) -> None:
    """Requests due at their scheduled times; a request waiting for a free slot is
    still timed from when it was due, so our own queueing shows in its latency."""
    assert share.due_s is not None
    slots = asyncio.Semaphore(max(1, share.slots))

    async def one(i: int, due: int) -> None:
        async with slots:
            await send(share.indexes[i], share.bodies[i], due)

    tasks = []
    try:
        for i, seconds in enumerate(share.due_s):
            due = start + int(seconds * 1e9)
            if deadline is not None and due > deadline:
                break
            delay = (due - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    finally:  # interrupted: stop the requests in flight before the pool closes
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
