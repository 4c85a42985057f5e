"""Running a load point: one asyncio loop and connection pool, or several processes.

The client's own CPU is measured as the loop thread's CPU time (``time.thread_time``),
not the process's: with an embedded server the process also holds the server's
threads.  A point whose client used nearly a full core is flagged ``client_bound``.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import ssl
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from .arrivals import arrival_offsets
from .client import RequestRecord, send
from .plan import LoadPoint


@dataclass
class PointRun:
    records: list[RequestRecord]
    start_ns: int
    end_ns: int
    client_cpu_s: float
    processes: int


@dataclass(frozen=True)
class Target:
    url: str  # .../chat/completions
    headers: dict[str, str]
    timeout_s: float
    warmup: bytes | None = None  # one unrecorded request per client process before timing


def warmup_body(model: str) -> bytes:
    """A one-token request: the first request of a fresh client process pays ~20 ms of
    first-use code paths (measured), which no recorded request should carry."""
    return json.dumps(
        {
            "model": model,
            "messages": [{"role": "user", "content": "warm up"}],
            "max_tokens": 1,
            "stream": True,
        }
    ).encode()


def request_bodies(
    model: str, messages: Sequence[Any], point: LoadPoint, extra_body: dict[str, Any]
) -> list[bytes]:
    """Every request serialised before the point starts: no JSON encoding under load."""
    bodies = []
    for m in messages:
        body: dict[str, Any] = {
            "model": model,
            "messages": m,
            "max_tokens": point.output_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
            "temperature": 0.0,
            **extra_body,
        }
        if point.ignore_eos:
            body["ignore_eos"] = True  # llama.cpp / vLLM: exactly max_tokens tokens
            body["min_tokens"] = point.output_tokens  # vLLM's spelling of the same
        bodies.append(json.dumps(body).encode())
    return bodies


def run_point(target: Target, point: LoadPoint, bodies: list[bytes]) -> PointRun:
    if point.processes <= 1:
        return _run_here(target, point, bodies, 0)
    shares = _split(point, bodies)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=len(shares), mp_context=context) as pool:
        runs = list(pool.map(_run_share, [(target, p, b, offset) for p, b, offset in shares]))
    return PointRun(
        records=[r for run in runs for r in run.records],
        start_ns=min(run.start_ns for run in runs),
        end_ns=max(run.end_ns for run in runs),
        client_cpu_s=sum(run.client_cpu_s for run in runs),
        processes=len(runs),
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
    start = time.perf_counter_ns()
    records = asyncio.run(_drive(target, point, bodies, offset))
    end = time.perf_counter_ns()
    return PointRun(
        records=records,
        start_ns=start,
        end_ns=end,
        client_cpu_s=time.thread_time() - cpu_before,
        processes=1,
    )


async def _drive(
    target: Target, point: LoadPoint, bodies: list[bytes], offset: int
) -> list[RequestRecord]:
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
    records: list[RequestRecord] = []
    deadline = (
        time.perf_counter_ns() + int(point.duration_s * 1e9)
        if point.duration_s is not None
        else None
    )
    try:
        if target.warmup is not None:
            ignored = RequestRecord(index=-1, due_ns=time.perf_counter_ns())
            await send(
                clients[0], target.url, target.warmup, target.headers, ignored, target.timeout_s
            )
        if point.rate is None:
            await _closed(clients, target, bodies, deadline, records, offset)
        else:
            await _open(clients, target, point, bodies, deadline, records, offset)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))
    return records


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
    records: list[RequestRecord],
    offset: int,
) -> None:
    """One worker per client, each sending its next request as soon as its last one ends."""
    queue = iter(range(len(bodies)))

    async def worker(client: httpx.AsyncClient) -> None:
        for i in queue:
            now = time.perf_counter_ns()
            if deadline is not None and now > deadline:
                return
            record = RequestRecord(index=offset + i, due_ns=now)
            await send(client, target.url, bodies[i], target.headers, record, target.timeout_s)
            records.append(record)

    await asyncio.gather(*(worker(client) for client in clients))


async def _open(
    clients: list[httpx.AsyncClient],
    target: Target,
    point: LoadPoint,
    bodies: list[bytes],
    deadline: int | None,
    records: list[RequestRecord],
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
            record = RequestRecord(index=offset + i, due_ns=due)
            await send(client, target.url, bodies[i], target.headers, record, target.timeout_s)
            records.append(record)
        finally:
            free.put_nowait(client)

    tasks = []
    for i, seconds in enumerate(offsets):
        due = start + int(seconds * 1e9)
        if deadline is not None and due > deadline:
            break
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
