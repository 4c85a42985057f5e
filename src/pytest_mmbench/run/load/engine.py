"""Running a load point: one asyncio loop and connection pool, or several processes.

The client's own CPU is measured as the loop thread's CPU time (``time.thread_time``),
not the process's: with an embedded server the process also holds the server's
threads.  A point whose client used nearly a full core is flagged ``client_bound``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import ssl
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import httpx

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import schedule, stream_async
from pytest_mmbench.run.load.arrivals import arrival_offsets
from pytest_mmbench.spec.load_plan import LoadPoint


@dataclass
class PointRun:
    records: list[Trace]
    start_ns: int
    end_ns: int
    client_cpu_s: float
    processes: int
    interrupted: bool = False  # Ctrl-C: the requests completed before it are kept


@dataclass(frozen=True)
class Target:
    url: str  # .../chat/completions
    headers: dict[str, str]
    timeout_s: float
    # One unrecorded request per client process before timing: the first request of a
    # fresh process pays ~20 ms of first-use code paths (measured), which no recorded
    # request should carry.
    warmup: bytes | None = None


def run_point(target: Target, point: LoadPoint, bodies: list[bytes]) -> PointRun:
    if point.processes <= 1:
        return _run_here(target, point, bodies, 0)
    shares = _split(point, bodies)
    context = multiprocessing.get_context("spawn")
    interrupted = False
    runs: list[PointRun] = []
    with ProcessPoolExecutor(max_workers=len(shares), mp_context=context) as pool:
        futures = [pool.submit(_run_share, (target, p, b, offset)) for p, b, offset in shares]
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
    return PointRun(
        records=[r for run in runs for r in run.records],
        start_ns=min(run.start_ns for run in runs),
        end_ns=max(run.end_ns for run in runs),
        client_cpu_s=sum(run.client_cpu_s for run in runs),
        processes=len(runs),
        interrupted=interrupted or any(run.interrupted for run in runs),
    )


def _split(point: LoadPoint, bodies: list[bytes]) -> list[tuple[LoadPoint, list[bytes], int]]:
    from dataclasses import replace

    n = min(point.processes, len(bodies))
    shares, start = [], 0
    for k in range(n):
        size = len(bodies) // n + (1 if k < len(bodies) % n else 0)
        part = replace(
            point,
            processes=1,
            requests=size,
            concurrency=max(1, (point.concurrency or 1) // n) if point.concurrency else None,
            rate=point.rate / n if point.rate else None,
            seed=point.seed + k,
        )
        shares.append((part, bodies[start : start + size], start))
        start += size
    return shares


def _run_share(args: tuple[Target, LoadPoint, list[bytes], int]) -> PointRun:
    return _run_here(*args)


def _run_here(target: Target, point: LoadPoint, bodies: list[bytes], offset: int) -> PointRun:
    cpu_before = time.thread_time()
    started = [time.perf_counter_ns()]  # moved on by _drive once warm-up is done
    records: list[Trace] = []
    interrupted = False
    try:
        asyncio.run(_drive(target, point, bodies, offset, records, started))
    except KeyboardInterrupt:
        interrupted = True
        for record in records:
            if record.end_ns is None:
                record.fail("interrupted", "interrupted (Ctrl-C) before the response ended")
    end = time.perf_counter_ns()
    return PointRun(
        records=records,
        start_ns=started[0],
        end_ns=end,
        client_cpu_s=time.thread_time() - cpu_before,
        processes=1,
        interrupted=interrupted,
    )


async def _drive(
    target: Target,
    point: LoadPoint,
    bodies: list[bytes],
    offset: int,
    records: list[Trace],
    started: list[int],
) -> None:
    """One single-connection client per slot, not one shared pool.

    httpcore's pool re-scans every connection on each request and response event, which
    is quadratic in the pool size: at concurrency 256 against a fast server that cost
    ~100 us per chunk and made the client the bottleneck.  A client per slot keeps every
    pool at one connection; the clients together are the pool sized to the concurrency.
    """
    slots = point.concurrency or point.max_concurrency or len(bodies)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(target.timeout_s, connect=min(10.0, target.timeout_s))
    tls = _tls_context()  # one CA bundle load, not one per client (19 ms each)
    clients = [httpx.AsyncClient(limits=limits, timeout=timeout, verify=tls) for _ in range(slots)]
    deadline = (
        time.perf_counter_ns() + int(point.duration_s * 1e9)
        if point.duration_s is not None
        else None
    )
    try:
        if target.warmup is not None:
            ignored = Trace(index=-1, due_ns=time.perf_counter_ns())
            await stream_async(
                clients[0], target.url, target.warmup, target.headers, target.timeout_s, ignored
            )
        started[0] = time.perf_counter_ns()  # the point's wall time starts here
        if point.rate is None:
            await _closed(clients, target, bodies, deadline, records, offset)
        else:
            await _open(clients, target, point, bodies, deadline, records, offset)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


def _tls_context() -> ssl.SSLContext:
    try:
        import certifi  # httpx's own CA bundle

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


async def _closed(
    clients: list[httpx.AsyncClient],
    target: Target,
    bodies: list[bytes],
    deadline: int | None,
    records: list[Trace],
    offset: int,
) -> None:
    """One worker per client, each sending its next request as soon as its last one ends."""
    queue = iter(range(len(bodies)))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in queue:
            now = time.perf_counter_ns()
            if deadline is not None and now > deadline:
                return
            record = schedule(Trace(index=offset + i), now)
            records.append(record)
            await stream_async(
                client, target.url, bodies[i], target.headers, target.timeout_s, record
            )

    await asyncio.gather(*(worker(client) for client in clients))


async def _open(
    clients: list[httpx.AsyncClient],
    target: Target,
    point: LoadPoint,
    bodies: list[bytes],
    deadline: int | None,
    records: list[Trace],
    offset: int,
) -> None:
    """Requests due at seeded Poisson/gamma times; a request waiting for a free client is
    still timed from when it was due, so our own queueing shows in its latency."""
    assert point.rate is not None
    offsets = arrival_offsets(point.rate, len(bodies), point.burstiness, point.seed)
    free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    for client in clients:
        free.put_nowait(client)
    start = time.perf_counter_ns()

    async def one(i: int, due: int) -> None:
        client = await free.get()
        try:
            record = schedule(Trace(index=offset + i), due)
            records.append(record)
            await stream_async(
                client, target.url, bodies[i], target.headers, target.timeout_s, record
            )
        finally:
            free.put_nowait(client)

    tasks = []
    try:
        for i, seconds in enumerate(offsets):
            due = start + int(seconds * 1e9)
            if deadline is not None and due > deadline:
                break
            delay = (due - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    finally:  # interrupted: stop the requests in flight before their clients close
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
