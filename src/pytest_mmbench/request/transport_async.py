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


def open_session(url: str, connections: int, timeout_s: float) -> aiohttp.ClientSession:
    """One pool of ``connections`` keep-alive connections to ``url``'s server; call it
    inside the running loop.

    ``timeout_s`` bounds each request as a whole (one timer per request, where a
    between-reads timeout would re-arm a timer on every chunk), with at most 10 s to
    connect.  A proxy from the environment (``HTTP_PROXY``, ``NO_PROXY``...) applies as
    it does for httpx; it is looked up once here, not per request as aiohttp's
    ``trust_env`` does (in a thread: that cost more than our parser at concurrency 256).
    """
    connector = aiohttp.TCPConnector(limit=max(1, connections), limit_per_host=0, ssl=_tls())
    timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(10.0, timeout_s))
    return aiohttp.ClientSession(connector=connector, timeout=timeout, proxy=_env_proxy(url))


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
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    trace: Trace,
    scheduled: bool = True,
) -> Trace:
    """POST one streaming chat completion and record it; never raises for server faults."""
    await _attempt(session, url, body, headers, timeout_s, trace, scheduled)
    if stale_connection(trace):
        trace.restart()
        await _attempt(session, url, body, headers, timeout_s, trace, scheduled)
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
