"""The load engine's transport: aiohttp, read into the same Trace by the same code.

Why a second HTTP library: at concurrency 256 against a fast server the load client
is the bottleneck, and most of its time went to httpx's pure-Python HTTP/1.1 layer
(h11) rather than to our parser.  aiohttp parses HTTP in C (llhttp); on the same
machine and workload it took about half the CPU per streamed chunk
(``benchmarks/load_client.py scale``; docs/scaling.md has the numbers).  vLLM's and
SGLang's serving benchmarks use aiohttp for the same reason.  The per-case runner keeps
httpx: one request at a time is nowhere near that limit.

Everything but the waiting is shared with the sync transport: the clock and parser
(:func:`~.transport.recording`), the status and error judgement, the stale-connection
resend.  Only the library's exceptions are mapped here, to the same error kinds and
messages, so a fault reads the same on either path.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import (
    Failure,
    http_error,
    record_headers,
    recording,
    stale_connection,
)


@dataclass
class Connections:
    """A keep-alive pool for requests, and new connections for resends.

    A resend follows a pooled connection that the server had already closed (llama.cpp
    closes every connection after a stream while advertising keep-alive).  It must not
    take another pooled connection, which may be just as stale: against llama.cpp at
    concurrency 8 that failed 2 to 3 requests in 50.  So it goes over a new one.
    """

    pooled: aiohttp.ClientSession
    fresh: aiohttp.ClientSession  # a new connection for every request

    async def close(self) -> None:
        await self.pooled.close()
        await self.fresh.close()


def open_connections(url: str, connections: int, timeout_s: float) -> Connections:
    """Up to ``connections`` keep-alive connections to ``url``'s server; call it inside
    the running loop.

    ``timeout_s`` bounds each request as a whole (one timer per request, where a
    between-reads timeout would re-arm a timer on every chunk), with at most 10 s to
    connect.  A proxy from the environment (``HTTP_PROXY``, ``NO_PROXY``...) applies as
    it does for httpx; it is looked up once here, not per request as aiohttp's
    ``trust_env`` does (in a thread: that cost more than our parser at concurrency 256).
    """
    tls, proxy = _tls(), _env_proxy(url)
    timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(10.0, timeout_s))

    def session(force_close: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=max(1, connections), limit_per_host=0, ssl=tls, force_close=force_close
        )
        return aiohttp.ClientSession(connector=connector, timeout=timeout, proxy=proxy)

    return Connections(pooled=session(False), fresh=session(True))


def _env_proxy(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.hostname or proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme)


def _tls() -> ssl.SSLContext:
    """certifi's CA bundle, as httpx uses, loaded once for the pool."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


async def stream_async(
    connections: Connections,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    trace: Trace,
    scheduled: bool = True,
) -> Trace:
    """POST one streaming chat completion and record it; never raises for server faults."""
    await _attempt(connections.pooled, url, body, headers, timeout_s, trace, scheduled)
    if stale_connection(trace):
        trace.restart()
        await _attempt(connections.fresh, url, body, headers, timeout_s, trace, scheduled)
    return trace


async def _attempt(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    trace: Trace,
    scheduled: bool,
) -> None:
    with recording(trace, url, timeout_s, scheduled, classify_failure) as take:
        async with session.post(url, data=body, headers=headers) as response:
            if not record_headers(trace, response.status, response.headers.get("Content-Type")):
                http_error(trace, response.status, await response.read())
                return
            async for data in response.content.iter_any():  # decompressed, if it was
                if take(data):
                    break


def classify_failure(exc: BaseException, url: str, timeout_s: float) -> Failure | None:
    """(error kind, message) for an aiohttp failure, worded as the sync path words it."""
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's timeouts are these too
        return "timeout", f"timed out after {timeout_s:g} s ({type(exc).__name__})"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect", f"cannot connect to {url}: {exc}"
    if isinstance(
        exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, aiohttp.ClientOSError)
    ):
        return "stream", f"stream broken by the server: {exc}"
    if isinstance(exc, aiohttp.ClientError):
        return "stream", f"{type(exc).__name__}: {exc}"
    return None
