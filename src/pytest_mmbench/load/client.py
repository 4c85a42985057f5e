"""One streamed request under load, with the least work per chunk.

Under load the client's CPU is taken from the server on a small machine, so the hot
loop does byte searches only: a chunk that carries content or reasoning is a token
timestamp; only the rare lines with usage, timings or an error are parsed as JSON.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..stream import classify_failure, stale_connection

_TEXT_KEYS = (b'"content":', b'"reasoning_content":', b'"reasoning":')
_FINISH = b'"finish_reason":'
_PARSE = (b'"usage"', b'"error"', b'"timings"')
_QUOTE = ord('"')
_BLANKS = (ord(" "), ord("\t"))


def _has_string(line: bytes, key: bytes, non_empty: bool) -> bool:
    """Is ``key`` followed by a string value (non-empty if asked)?  ``"k":"v"`` and
    ``"k": "v"`` both count (compact and spaced JSON); ``null`` does not."""
    i = line.find(key)
    while i >= 0:
        j = i + len(key)
        while j < len(line) and line[j] in _BLANKS:
            j += 1
        is_string = j < len(line) and line[j] == _QUOTE
        if is_string and (not non_empty or (j + 1 < len(line) and line[j + 1] != _QUOTE)):
            return True
        i = line.find(key, j)
    return False


@dataclass
class RequestRecord:
    """Raw timestamps (perf_counter_ns) of one request; picklable across processes."""

    index: int
    due_ns: int  # when the request was due (arrival time, or a free slot in a closed loop)
    sent_ns: int = 0  # when the (last) attempt went out: TTFT vs the server uses this
    first_sent_ns: int = 0  # when it first went out: first_sent - due is our own queueing
    token_ns: list[int] = field(default_factory=list)
    finish_ns: int | None = None
    end_ns: int | None = None
    status: int | None = None
    output_tokens: int | None = None
    input_tokens: int | None = None
    server_decode_tok_s: float | None = None
    server_prompt_ms: float | None = None
    stale_connection_retries: int = 0
    error: str | None = None
    error_kind: str | None = None


async def send(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    record: RequestRecord,
    timeout_s: float,
) -> None:
    """Stream one request into ``record``; resend once if a stale pooled socket failed."""
    await _attempt(client, url, body, headers, record, timeout_s)
    if stale_connection(record.error_kind, record.status, bool(record.token_ns)):
        record.error = record.error_kind = None
        record.stale_connection_retries = 1
        await _attempt(client, url, body, headers, record, timeout_s)


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    record: RequestRecord,
    timeout_s: float,
) -> None:
    record.sent_ns = time.perf_counter_ns()
    record.first_sent_ns = record.first_sent_ns or record.sent_ns
    deadline = record.sent_ns + int(timeout_s * 1e9)
    pending = b""
    try:
        async with client.stream("POST", url, content=body, headers=headers) as response:
            record.status = response.status_code
            if response.status_code >= 400:
                text = (await response.aread()).decode("utf-8", "replace")
                record.error_kind = "http"
                record.error = f"HTTP {response.status_code}: {text.strip()[:200]}"
                return
            async for chunk in response.aiter_bytes():
                now = time.perf_counter_ns()
                lines = (pending + chunk).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    _line(line, now, record)
                if record.error is not None:
                    return
                if now > deadline:
                    record.error_kind, record.error = "timeout", f"exceeded {timeout_s:g} s"
                    return
    except httpx.HTTPError as exc:
        record.error_kind, record.error = classify_failure(exc, url, timeout_s)
    finally:
        record.end_ns = time.perf_counter_ns()
    if record.error is None and record.finish_ns is None:
        record.error_kind = "stream"
        record.error = "stream ended before finish_reason"


def _line(line: bytes, now: int, record: RequestRecord) -> None:
    if not line.startswith(b"data:"):
        return
    if any(_has_string(line, key, non_empty=True) for key in _TEXT_KEYS):
        record.token_ns.append(now)
    if _has_string(line, _FINISH, non_empty=True):
        record.finish_ns = now
    if any(marker in line for marker in _PARSE):
        _details(line, record)


def _details(line: bytes, record: RequestRecord) -> None:
    try:
        chunk: Any = json.loads(line[5:])
    except ValueError:
        record.error_kind, record.error = "protocol", f"malformed SSE data: {line[:120]!r}"
        return
    if not isinstance(chunk, dict):
        return
    if "error" in chunk:
        record.error_kind, record.error = "stream", f"server error mid-stream: {chunk['error']}"
        return
    usage = chunk.get("usage") or {}
    if isinstance(usage.get("completion_tokens"), int):
        record.output_tokens = usage["completion_tokens"]
    if isinstance(usage.get("prompt_tokens"), int):
        record.input_tokens = usage["prompt_tokens"]
    timings = chunk.get("timings") or {}
    if timings:
        record.server_decode_tok_s = timings.get("predicted_per_second")
        record.server_prompt_ms = timings.get("prompt_ms")
