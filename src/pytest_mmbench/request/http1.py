"""The load engine's direct HTTP/1.1 client: asyncio's transport, llhttp's parser, a pool.

Why not aiohttp here: at concurrency 256 a streamed token arrives on its own, and
aiohttp hands each one through its buffered reader, wakes the reading task, and
re-arms the reader's flow control.  That plumbing, not our parser, capped one client
at about 52,000 chunks per CPU-second on a 16-core Xeon.  Here the parser is fed from
the protocol callback that received the bytes: one call per network read, no task
wakeup until the response ends.  A prototype of this did 81,000 to 99,000 on the same
host (docs/scaling.md, ``benchmarks/load_client.py scale``).

What is ours is small: writing the request (method line, headers, ``Content-Length``),
a keep-alive pool, and when a response ends.  Parsing the status line, headers and
chunked or length-framed bodies is httptools (llhttp, the parser of Node.js, which
aiohttp also uses).  TLS is asyncio's.  What it does not do goes to aiohttp
(:func:`~.transport_async.open_connections` decides): a proxy from the environment,
and credentials in the URL.

The clock, parser, error verdicts and stale-connection rule are the shared ones in
:mod:`.transport`, so a fault reads the same here as on the other transports.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

import httptools

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import (
    ConnectionPool,
    Failure,
    Post,
    http_error,
    record_headers,
    recording,
)

_ERROR_BODY_KEEP = 64 * 1024  # an HTTP error's body is kept for its message, up to this


class ServerClosed(Exception):
    """The server closed the connection before its response ended."""


class BadResponse(Exception):
    """An answer that is not HTTP/1.1 we can read: a protocol error, never resent (the
    server did answer, unlike a stale connection, which fails before any byte)."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one request at a time.

    Its response is parsed as bytes arrive: the body goes straight to ``take`` (the
    shared clock and chunk parser), and the future from :meth:`exchange` is resolved
    when the response ends, fails, or ``take`` says to stop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._parser = httptools.HttpResponseParser(self)
        self._done: asyncio.Future[None] | None = None
        self._begin(Trace(), lambda data: True)

    def _begin(self, trace: Trace, take: Callable[[bytes], bool]) -> None:
        self._trace, self._take = trace, take
        self.reusable = False  # set when a keep-alive response has ended
        self._status = 0
        self._content_type: str | None = None
        self._framed = self._headers_done = self._received = self._interim = False
        self._error_body: bytearray | None = None
        self._encoding = b""  # Content-Encoding: we ask for none, a server may send gzip
        self._inflate: zlib._Decompress | None = None

    def exchange(
        self, request: bytes, trace: Trace, take: Callable[[bytes], bool]
    ) -> asyncio.Future[None]:
        """Send ``request``; the future resolves when its response has been read."""
        assert self.transport is not None
        self._begin(trace, take)
        self._done = self._loop.create_future()
        self.transport.write(request)
        return self._done

    def abort(self) -> None:
        """Close it now (a response cut short, a timeout): it can carry nothing more."""
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def time_out(self) -> None:
        self._resolve(asyncio.TimeoutError())

    def _resolve(self, error: BaseException | None = None) -> None:
        done = self._done
        if done is not None and not done.done():
            if error is None:
                done.set_result(None)
            else:
                done.set_exception(error)

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._done is None or self._done.done():
            self.abort()  # bytes nobody asked for: the connection is out of step
            return
        self._received = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self.abort()  # the parser is stuck; an earlier response may have ended well
            if isinstance(exc, httptools.HttpParserCallbackError):  # our bug: let it show
                self._resolve(exc.__context__ or exc)
            else:
                self._resolve(BadResponse(f"the response is not valid HTTP/1.1 ({exc})"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._done is None or self._done.done():
            return
        if self._headers_done and not self._framed:
            self._message_ended()  # a body without length or chunks ends at the close
        elif self._received:
            self._resolve(ServerClosed("server disconnected in the middle of the response"))
        else:
            self._resolve(ServerClosed("server disconnected before sending a response"))

    # -- httptools callbacks ---------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-type":
            self._content_type = value.decode("latin-1")
        elif name == b"content-length":
            self._framed = True
        elif name == b"transfer-encoding":
            self._framed = b"chunked" in value.lower()
        elif name == b"content-encoding":
            self._encoding = value.strip().lower()

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        if 100 <= self._status < 200 and self._status != 101:
            self._interim = True  # 100 Continue, 103 Early Hints: the answer follows
            return
        self._headers_done = True
        if not record_headers(self._trace, self._status, self._content_type):
            self._error_body = bytearray()
        if self._encoding in (b"gzip", b"x-gzip", b"deflate"):
            self._inflate = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header
        elif self._encoding not in (b"", b"identity"):
            said = f"Content-Encoding {self._encoding.decode('latin-1')}"
            if self._error_body is not None:
                http_error(self._trace, self._status, f"(a body in {said})".encode())
                self._resolve()
            else:
                self._resolve(BadResponse(f"the response has {said}, which is not read here"))

    def on_body(self, body: bytes) -> None:
        if self._done is None or self._done.done():
            return  # stopped: the rest of this read is not the request's any more
        kept = self._error_body
        if kept is not None and len(kept) >= _ERROR_BODY_KEEP:
            return
        if self._inflate is not None:
            room = _ERROR_BODY_KEEP - len(kept) if kept is not None else 0  # 0: no limit
            try:
                body = self._inflate.decompress(body, room)
            except zlib.error as exc:
                self._resolve(BadResponse(f"the compressed response does not inflate ({exc})"))
                return
        if kept is not None:
            kept += body[: _ERROR_BODY_KEEP - len(kept)]
        elif self._take(body):
            self._resolve()  # an error in the stream, or past the deadline: stop here

    def on_message_complete(self) -> None:
        if self._interim:  # the real response is the next message on this connection
            self._begin(self._trace, self._take)
            self._received = True
            return
        self.reusable = self._parser.should_keep_alive()
        self._message_ended()

    def _message_ended(self) -> None:
        if self._error_body is not None:
            http_error(self._trace, self._status, bytes(self._error_body))
        self._resolve()


class DirectConnections(ConnectionPool):
    """Keep-alive connections to one server, one per request in flight, and new ones
    for resends (:class:`~.transport.ConnectionPool`)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or ""
        self._tls = tls_context() if parts.scheme == "https" else None
        self._port = parts.port or (443 if self._tls else 80)
        self._connect_s = min(10.0, timeout_s)
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._heads: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}
        self._shut = False

    async def close(self) -> None:
        self._shut = True
        for connection in [*self._idle, *self._busy]:
            connection.abort()
        self._idle.clear()

    async def attempt(self, post: Post, trace: Trace, scheduled: bool, pooled: bool) -> None:
        if self._shut:  # as aiohttp's closed session does: a request after close is a bug
            raise RuntimeError("the connection pool is closed")
        head = self._head(post.url, post.headers)
        request = b"".join((head, b"Content-Length: %d\r\n\r\n" % len(post.body), post.body))
        loop = asyncio.get_running_loop()
        with recording(trace, post, scheduled, classify_failure) as take:
            deadline = loop.time() + post.timeout_s
            connection = self._pooled() if pooled else None
            if connection is None:
                connection = await self._connect(loop)
            self._busy.add(connection)
            timer = loop.call_at(deadline, connection.time_out)
            try:
                await connection.exchange(request, trace, take)
            finally:
                timer.cancel()
                self._busy.discard(connection)
                if connection.reusable and not connection.closed:
                    self._idle.append(connection)
                else:
                    connection.abort()

    def _pooled(self) -> _Connection | None:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        opening = loop.create_connection(
            lambda: _Connection(loop),
            self._host,
            self._port,
            ssl=self._tls,
            server_hostname=self._host if self._tls else None,
        )
        _, connection = await asyncio.wait_for(opening, self._connect_s)
        return connection

    def _head(self, url: str, headers: dict[str, str]) -> bytes:
        """The request up to its length, built once per URL and header set."""
        key = (url, tuple(headers.items()))
        head = self._heads.get(key)
        if head is None:
            head = self._heads[key] = request_head(url, headers)
        return head


def request_head(url: str, headers: dict[str, str]) -> bytes:
    """``POST`` line and headers; a line break in a header is refused, since it would
    split the request (the value is not repeated: it may be an API key)."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    given = {name.lower() for name in headers}
    lines = [f"POST {target} HTTP/1.1"]
    if "host" not in given:
        lines.append(f"Host: {parts.netloc.rpartition('@')[2]}")
    # identity: a compressed stream would hold tokens back (gzip is read all the same)
    defaults = {"User-Agent": "pytest-mmbench", "Accept": "*/*", "Accept-Encoding": "identity"}
    lines += [f"{k}: {v}" for k, v in defaults.items() if k.lower() not in given]
    for name, value in headers.items():
        if name.lower() == "content-length":
            continue  # ours, from the body
        line = f"{name}: {value}"
        if any(c in line for c in "\r\n\0"):
            raise ValueError(f"header {name!r} holds a line break or NUL, which HTTP forbids")
        if not line.isascii() and max(map(ord, line)) > 255:
            raise ValueError(f"header {name!r} holds characters HTTP/1.1 cannot carry")
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def tls_context() -> ssl.SSLContext:
    """certifi's CA bundle, as httpx uses, loaded once for the pool."""
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


def classify_failure(exc: BaseException, url: str, timeout_s: float) -> Failure | None:
    """(error kind, message), worded as the other transports word them."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout", f"timed out after {timeout_s:g} s ({type(exc).__name__})"
    if isinstance(exc, ServerClosed):
        return "stream", f"stream broken by the server: {exc}"
    if isinstance(exc, BadResponse):
        return "protocol", str(exc)
    if isinstance(exc, OSError):  # refused, unreachable, TLS failure on connect
        return "connect", f"cannot connect to {url}: {exc}"
    return None
