"""Reading one streamed chat completion into raw timestamps and server counts.

Nothing here computes a statistic: this module only records *when* each content or
reasoning delta arrived (``time.perf_counter_ns``), what the server said about usage,
and, if the request failed, how.  Keeping the hot loop this small is what keeps the
client out of the measurement.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

# A refusal of an input kind, e.g. llama.cpp's HTTP 500 "image input is not supported",
# vLLM's 400 "... does not support multimodal inputs"; 415 and 422 are used elsewhere.
_REFUSAL_CODES = (400, 415, 422, 500)
_REFUSAL = re.compile(
    r"not supported|unsupported|does not support|no .*(processor|projector)", re.IGNORECASE
)


@dataclass
class RawStream:
    """Everything observed about one streamed request, before any arithmetic."""

    start_ns: int
    end_ns: int | None = None
    headers_ns: int | None = None
    delta_ns: list[int] = field(default_factory=list)
    finish_ns: int | None = None
    content_deltas: int = 0
    reasoning_deltas: int = 0
    content: str = ""
    reasoning: str = ""
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None
    finish_reason: str | None = None
    status_code: int | None = None
    saw_done: bool = False
    stale_connection_retries: int = 0
    error: str | None = None
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def fail(self, kind: str, message: str) -> None:
        """Record the first failure only: later ones are consequences of it."""
        if self.error is None:
            self.error_kind = kind
            self.error = message


class SSEAccumulator:
    """Feeds ``data:`` lines of an OpenAI chat-completions stream into a :class:`RawStream`."""

    def __init__(self, raw: RawStream) -> None:
        self.raw = raw

    def feed(self, line: str, now_ns: int) -> None:
        if not line.startswith("data:"):
            return  # blank separators, comments (": ping") and event names carry no tokens
        payload = line[5:].strip()
        if payload == "[DONE]":
            self.raw.saw_done = True
            return
        try:
            chunk = json.loads(payload)
        except ValueError:
            self.raw.fail("protocol", f"malformed SSE data (not JSON): {payload[:200]!r}")
            return
        if not isinstance(chunk, dict):
            self.raw.fail("protocol", f"malformed SSE data (not an object): {payload[:200]!r}")
            return
        if "error" in chunk:
            self.raw.fail(
                "stream", f"server sent an error mid-stream: {_error_text(chunk['error'])}"
            )
            return
        if chunk.get("usage"):
            self.raw.usage = chunk["usage"]
        if chunk.get("timings"):
            self.raw.timings = chunk["timings"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            content = delta.get("content")
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if content:
                self.raw.content += content
                self.raw.content_deltas += 1
            if reasoning:
                self.raw.reasoning += reasoning
                self.raw.reasoning_deltas += 1
            if content or reasoning:
                self.raw.delta_ns.append(now_ns)
            if choice.get("finish_reason"):
                self.raw.finish_reason = choice["finish_reason"]
                self.raw.finish_ns = now_ns


def stream_chat(
    client: httpx.Client,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    timeout_s: float,
) -> RawStream:
    """POST one streaming chat completion and record it; never raises for server faults.

    A pooled keep-alive connection that the server already closed fails before any
    response byte ("Server disconnected without sending a response"): llama.cpp closes
    connections after a stream while advertising keep-alive.  The server never saw that
    request, so it is sent once more on a fresh connection with the clock restarted,
    and the retry is recorded.  Any other failure, or a second one, is the result.
    """
    raw = _attempt(client, url, body, headers, timeout_s)
    if stale_connection(raw.error_kind, raw.status_code, raw.headers_ns is not None):
        retried = _attempt(client, url, body, headers, timeout_s)
        retried.stale_connection_retries = 1
        return retried
    return raw


def _attempt(
    client: httpx.Client, url: str, body: dict[str, Any], headers: dict[str, str], timeout_s: float
) -> RawStream:
    raw = RawStream(start_ns=time.perf_counter_ns())
    deadline = raw.start_ns + int(timeout_s * 1e9)
    accumulator = SSEAccumulator(raw)
    try:
        with client.stream("POST", url, json=body, headers=headers) as response:
            raw.headers_ns = time.perf_counter_ns()
            raw.status_code = response.status_code
            if response.status_code >= 400:
                text = response.read().decode("utf-8", "replace")
                message = _error_body(text)
                refused = response.status_code in _REFUSAL_CODES and _REFUSAL.search(message)
                raw.fail(
                    "unsupported" if refused else "http", f"HTTP {response.status_code}: {message}"
                )
            else:
                for line in response.iter_lines():
                    now = time.perf_counter_ns()
                    accumulator.feed(line, now)
                    if raw.error is not None:
                        break
                    if now > deadline:
                        raw.fail(
                            "timeout", f"request exceeded timeout_s={timeout_s:g} while streaming"
                        )
                        break
    except httpx.HTTPError as exc:
        raw.fail(*classify_failure(exc, url, timeout_s))
    raw.end_ns = time.perf_counter_ns()
    if raw.ok and raw.finish_reason is None and not raw.saw_done:
        raw.fail("stream", "stream ended before the server sent finish_reason or [DONE]")
    return raw


def classify_failure(exc: httpx.HTTPError, url: str, timeout_s: float) -> tuple[str, str]:
    """(error kind, message) for a transport failure; shared by the sync and load clients."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout", f"timed out after {timeout_s:g} s ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return "connect", f"cannot connect to {url}: {exc}"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return "stream", f"stream broken by the server: {exc}"
    return "stream", f"{type(exc).__name__}: {exc}"


def stale_connection(error_kind: str | None, status_code: int | None, got_data: bool) -> bool:
    """A pooled keep-alive socket the server had closed: failed before any response byte.

    llama.cpp closes connections after a stream while advertising keep-alive, so this
    happens; the server never saw the request, so it may be sent once more.
    """
    return error_kind == "stream" and status_code is None and not got_data


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def _error_body(text: str) -> str:
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()[:300] or "(empty body)"
    if isinstance(parsed, dict) and "error" in parsed:
        return _error_text(parsed["error"])
    return text.strip()[:300]
