"""Sending one streamed request and reading it into a Trace: the sync transport, and
what every transport shares.

The per-case runner uses :func:`stream_sync` (httpx), the load engine a
:class:`ConnectionPool` (:mod:`.http1`, or aiohttp in :mod:`.transport_async`).  They
differ only in how they wait for bytes and in their libraries' exception types; the
clock, the parser, the error judgement, the stale-connection resend and the
end-of-stream verdict are the functions here (:func:`recording`,
:func:`record_headers`, :func:`http_error`, :func:`stale_connection`).

A pooled keep-alive connection that the server already closed fails before any
response byte ("Server disconnected without sending a response"): llama.cpp closes
connections after a stream while advertising keep-alive.  The server never saw that
request, so it is sent once more and the resend is recorded.  A request that is
``scheduled`` (a load request, due at a given time) stays timed from when it was due,
so the resend counts in its latency; an unscheduled one (a case round) is timed from
the attempt that reached the server.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from pytest_mmbench.request.sse import ChunkParser, error_body
from pytest_mmbench.request.trace import Trace

# A refusal of an input kind, e.g. llama.cpp's HTTP 500 "image input is not supported",
# vLLM's 400 "... does not support multimodal inputs"; 415 and 422 are used elsewhere.
_REFUSAL_CODES = (400, 415, 422, 500)
_REFUSAL = re.compile(
    r"not supported|unsupported|does not support|no .*(processor|projector)", re.IGNORECASE
)
_EVENT_STREAM = "text/event-stream"

Failure = tuple[str, str]  # (error kind, message)
Classify = Callable[[BaseException, str, float], "Failure | None"]


@dataclass(frozen=True, slots=True)
class Post:
    """One streamed chat completion to send: where, what, and how long it may take."""

    url: str
    body: bytes
    headers: dict[str, str]
    timeout_s: float


def schedule(trace: Trace, due_ns: int) -> Trace:
    """Mark ``trace`` as due at ``due_ns`` (perf_counter), with its wall-clock time."""
    trace.due_ns = due_ns
    trace.wall_start = time.time() - (time.perf_counter_ns() - due_ns) / 1e9
    return trace


def stream_sync(
    client: httpx.Client, post: Post, trace: Trace | None = None, scheduled: bool = False
) -> Trace:
    """POST one streaming chat completion and record it; never raises for server faults."""
    trace = trace if trace is not None else Trace()
    _attempt_sync(client, post, trace, scheduled)
    if stale_connection(trace):
        trace.restart()
        _attempt_sync(client, post, trace, scheduled)
    return trace


def _attempt_sync(client: httpx.Client, post: Post, trace: Trace, scheduled: bool) -> None:
    with (
        recording(trace, post, scheduled, classify_failure) as take,
        client.stream("POST", post.url, content=post.body, headers=post.headers) as response,
    ):
        if not record_headers(trace, response.status_code, response.headers.get("content-type")):
            http_error(trace, response.status_code, response.read())
            return
        reads = response.iter_raw() if _identity(response) else response.iter_bytes()
        for data in reads:
            if take(data):
                break


@contextmanager
def recording(
    trace: Trace, post: Post, scheduled: bool, classify: Classify
) -> Iterator[Callable[[bytes], bool]]:
    """One attempt's clock, parser and failure handling, the same for every transport.

    Yields ``take(data) -> stop``: timestamp one network read, parse it, and say whether
    to stop reading (an error, or the deadline passed).  ``classify`` turns the
    transport library's exceptions into an error kind and message; one it does not
    know (None) is a bug and propagates.
    """
    now = time.perf_counter_ns()
    trace.sent_ns = now
    trace.first_sent_ns = trace.first_sent_ns or now
    if not scheduled:  # timed from the attempt that reached the server
        trace.first_sent_ns = now
        schedule(trace, now)
    timeout_s = post.timeout_s
    deadline = now + int(timeout_s * 1e9)
    parser = ChunkParser(trace)

    def take(data: bytes) -> bool:
        arrived = time.perf_counter_ns()
        parser.feed(data, arrived)
        if trace.error is not None:
            return True
        if arrived > deadline:
            trace.fail("timeout", f"request exceeded timeout_s={timeout_s:g} while streaming")
            return True
        return False

    try:
        yield take
    except Exception as exc:
        failure = classify(exc, post.url, timeout_s)
        if failure is None:
            raise
        trace.fail(*failure)
    _end(trace, parser)


def _identity(response: httpx.Response) -> bool:
    """No content encoding: the raw bytes are the body, and httpx's decoder can be
    skipped (one layer less per chunk; SSE is rarely compressed)."""
    encoding: str = response.headers.get("content-encoding", "identity")
    return encoding == "identity"


def record_headers(trace: Trace, status: int, content_type: str | None) -> bool:
    """Record the status line; True when a body of chunks follows."""
    trace.headers_ns = time.perf_counter_ns()
    trace.status_code = status
    trace.content_type = content_type
    return status < 400


def http_error(trace: Trace, status: int, body: bytes) -> None:
    """An HTTP error answer: a refusal of an input kind, or another failure."""
    message = error_body(body.decode("utf-8", "replace"))
    refused = status in _REFUSAL_CODES and _REFUSAL.search(message)
    trace.fail("unsupported" if refused else "http", f"HTTP {status}: {message}")


def _end(trace: Trace, parser: ChunkParser) -> None:
    now = time.perf_counter_ns()
    if trace.error is None:
        parser.close(now)
    trace.end_ns = now
    if trace.error is not None or trace.finish_reason is not None or trace.saw_done:
        return
    if trace.data_lines == 0:
        kind = trace.content_type or "no Content-Type"
        said = trace.unparsed_body.strip()[:200] or "an empty body"
        expected = "" if _EVENT_STREAM in kind else f", not {_EVENT_STREAM}"
        trace.fail(
            "protocol",
            f"expected an SSE stream but the server answered {kind}{expected}, with: {said!r}",
        )
    else:
        trace.fail("stream", "stream ended before the server sent finish_reason or [DONE]")


def classify_failure(exc: BaseException, url: str, timeout_s: float) -> Failure | None:
    """(error kind, message) for an httpx failure; None for anything else."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out after {timeout_s:g} s ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connect", f"cannot connect to {url}: {exc}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "stream", f"stream broken by the server: {exc}"
    if isinstance(exc, httpx.HTTPError):
        return "stream", f"{type(exc).__name__}: {exc}"
    return None


class ConnectionPool:
    """What the load engine's transports share: a request over a pooled keep-alive
    connection, resent once over a new one if the pooled one turned out stale.

    Never another pooled one, which may be just as stale (llama.cpp closes every
    connection after a stream while advertising keep-alive): against llama.cpp at
    concurrency 8 that failed 2 to 3 requests in 50.
    """

    async def stream(self, post: Post, trace: Trace, scheduled: bool = True) -> Trace:
        """POST one streaming chat completion and record it; never raises for server faults."""
        await self.attempt(post, trace, scheduled, pooled=True)
        if stale_connection(trace):
            trace.restart()
            await self.attempt(post, trace, scheduled, pooled=False)
        return trace

    async def attempt(self, post: Post, trace: Trace, scheduled: bool, pooled: bool) -> None:
        """One try, over a pooled connection or (``pooled`` false) a new one."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def stale_connection(trace: Trace) -> bool:
    """A pooled keep-alive socket the server had closed: failed before any response byte."""
    return (
        trace.error_kind == "stream"
        and trace.status_code is None
        and trace.headers_ns is None
        and trace.stale_connection_retries == 0
    )


def post_json(
    client: httpx.Client, url: str, body: Any, headers: dict[str, str]
) -> httpx.Response | None:
    """A plain (non-streamed) POST, such as ``/tokenize``; None if it cannot be made.

    Sent once more when a pooled connection turns out stale (llama.cpp closes them after
    a stream), for the same reason as a streamed request.
    """
    for attempt in range(2):
        try:
            return client.post(url, json=body, headers=headers)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            if attempt:
                return None
        except httpx.HTTPError:
            return None
    return None
