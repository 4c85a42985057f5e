"""The load engine's transports, and which one a point uses.

At concurrency 256 against a fast server the load client is the bottleneck, so the
engine does not use httpx, whose HTTP/1.1 layer (h11) is pure Python.  It sends
through :class:`~.http1.DirectConnections` (asyncio and llhttp, the body parsed in
the callback that received it) wherever it can, and through aiohttp (llhttp too, with
a buffered reader between) where a proxy from the environment applies or the URL
holds credentials: aiohttp handles those, ours does not.  docs/scaling.md has the
numbers.  The per-case runner keeps httpx: one request at a time is nowhere near the
limit.

Everything but the waiting is shared with the sync transport: the clock and parser
(:func:`~.transport.recording`), the status and error judgement, the stale-connection
resend.  Only each library's exceptions are mapped, to the same error kinds and
messages, so a fault reads the same on every path.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import aiohttp

from pytest_mmbench.request.http1 import DirectConnections, tls_context
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import (
    ConnectionPool,
    Failure,
    Post,
    http_error,
    record_headers,
    recording,
)


@dataclass
class AiohttpConnections(ConnectionPool):
    """An aiohttp keep-alive pool, and a session that opens a new connection for every
    request, for resends (:class:`~.transport.ConnectionPool`)."""

    pooled: aiohttp.ClientSession
    fresh: aiohttp.ClientSession

    async def attempt(self, post: Post, trace: Trace, scheduled: bool, pooled: bool) -> None:
        session = self.pooled if pooled else self.fresh
        with recording(trace, post, scheduled, classify_failure) as take:
            async with session.post(post.url, data=post.body, headers=post.headers) as response:
                status, content_type = response.status, response.headers.get("Content-Type")
                if not record_headers(trace, status, content_type):
                    http_error(trace, status, await response.read())
                    return
                async for data in response.content.iter_any():  # decompressed, if it was
                    if take(data):
                        break

    async def close(self) -> None:
        await self.pooled.close()
        await self.fresh.close()


def open_connections(url: str, connections: int, timeout_s: float) -> ConnectionPool:
    """Keep-alive connections to ``url``'s server, at most ``connections`` in use at a
    time (the share's slots); call it inside the running loop.  Direct, unless a proxy
    from the environment applies or the URL holds credentials."""
    if _env_proxy(url) or urlsplit(url).username is not None:
        return open_aiohttp(url, connections, timeout_s)
    return DirectConnections(url, timeout_s)


def open_aiohttp(url: str, connections: int, timeout_s: float) -> AiohttpConnections:
    """Up to ``connections`` keep-alive aiohttp connections to ``url``'s server.

    ``timeout_s`` bounds each request as a whole (one timer per request, where a
    between-reads timeout would re-arm a timer on every chunk), with at most 10 s to
    connect.  A proxy from the environment (``HTTP_PROXY``, ``NO_PROXY``...) applies as
    it does for httpx; it is looked up once here, not per request as aiohttp's
    ``trust_env`` does (in a thread: that cost more than our parser at concurrency 256).
    """
    tls, proxy = tls_context(), _env_proxy(url)
    timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(10.0, timeout_s))

    def session(force_close: bool) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=max(1, connections), limit_per_host=0, ssl=tls, force_close=force_close
        )
        return aiohttp.ClientSession(connector=connector, timeout=timeout, proxy=proxy)

    return AiohttpConnections(pooled=session(False), fresh=session(True))


def _env_proxy(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.hostname or proxy_bypass(parts.hostname):
        return None
    return getproxies().get(parts.scheme)


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
