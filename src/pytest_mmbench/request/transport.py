"""Sending one streamed request and reading it into a Trace: sync and asyncio alike.

The per-case runner uses :func:`stream_sync`, the load engine :func:`stream_async`.
They differ only in how they wait for bytes; the parser, the error handling, the
stale-connection resend and the end-of-stream judgement are the same functions.

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


def schedule(trace: Trace, due_ns: int) -> Trace:
    """Mark ``trace`` as due at ``due_ns`` (perf_counter), with its wall-clock time."""
    trace.due_ns = due_ns
    trace.wall_start = time.time() - (time.perf_counter_ns() - due_ns) / 1e9
    return trace


def stream_sync(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    trace: Trace | None = None,
    scheduled: bool = False,
) -> Trace:
    """POST one streaming chat completion and record it; never raises for server faults."""
    trace = trace if trace is not None else Trace()
    _attempt_sync(client, url, body, headers, timeout_s, trace, scheduled)
    if stale_connection(trace):
        trace.restart()
        _attempt_sync(client, url, body, headers, timeout_s, trace, scheduled)
    return trace


async def stream_async(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    trace: Trace,
    scheduled: bool = True,
) -> Trace:
    """The asyncio twin of :func:`stream_sync`."""
    await _attempt_async(client, url, body, headers, timeout_s, trace, scheduled)
    if stale_connection(trace):
        trace.restart()
        await _attempt_async(client, url, body, headers, timeout_s, trace, scheduled)
    return trace


def _attempt_sync(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    trace: Trace,
    scheduled: bool,
) -> None:
    with (
        _recording(trace, url, timeout_s, scheduled) as take,
        client.stream("POST", url, content=body, headers=headers) as response,
    ):
        if not _headers(trace, response):
            _http_error(trace, response.status_code, response.read())
            return
        reads = response.iter_raw() if _identity(response) else response.iter_bytes()
        for data in reads:
            if take(data):
                break


async def _attempt_async(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout_s: float,
    trace: Trace,
    scheduled: bool,
) -> None:
    with _recording(trace, url, timeout_s, scheduled) as take:
        async with client.stream("POST", url, content=body, headers=headers) as response:
            if not _headers(trace, response):
                _http_error(trace, response.status_code, await response.aread())
                return
            reads = response.aiter_raw() if _identity(response) else response.aiter_bytes()
            async for data in reads:
                if take(data):
                    break


@contextmanager
def _recording(
    trace: Trace, url: str, timeout_s: float, scheduled: bool
) -> Iterator[Callable[[bytes], bool]]:
    """One attempt's clock, parser and failure handling, the same for sync and asyncio.

    Yields ``take(data) -> stop``: timestamp one network read, parse it, and say whether
    to stop reading (an error, or the deadline passed).
    """
    now = time.perf_counter_ns()
    trace.sent_ns = now
    trace.first_sent_ns = trace.first_sent_ns or now
    if not scheduled:  # timed from the attempt that reached the server
        trace.first_sent_ns = now
        schedule(trace, now)
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
    except httpx.HTTPError as exc:
        trace.fail(*classify_failure(exc, url, timeout_s))
    _end(trace, parser)


def _identity(response: httpx.Response) -> bool:
    """No content encoding: the raw bytes are the body, and httpx's decoder can be
    skipped (one layer less per chunk; SSE is rarely compressed)."""
    encoding: str = response.headers.get("content-encoding", "identity")
    return encoding == "identity"


def _headers(trace: Trace, response: httpx.Response) -> bool:
    """Record the status line; True when a body of chunks follows."""
    trace.headers_ns = time.perf_counter_ns()
    trace.status_code = response.status_code
    trace.content_type = response.headers.get("content-type")
    return response.status_code < 400


def _http_error(trace: Trace, status: int, body: bytes) -> None:
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


def classify_failure(exc: httpx.HTTPError, url: str, timeout_s: float) -> tuple[str, str]:
    """(error kind, message) for a transport failure."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out after {timeout_s:g} s ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connect", f"cannot connect to {url}: {exc}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "stream", f"stream broken by the server: {exc}"
    return "stream", f"{type(exc).__name__}: {exc}"


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
