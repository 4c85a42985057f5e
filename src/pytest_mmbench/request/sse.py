"""The one chunk parser: bytes of an OpenAI chat-completions SSE stream into a Trace.

Every ``data:`` line is parsed as JSON, exactly: a byte scan for keys was measured no
faster than ``json.loads`` and is wrong on edge cases (escaped quotes, keys inside
content).  msgspec decodes each line into the declared :class:`_Chunk` below: the whole
line is validated, but only the fields read here become Python objects, which is what
makes this parser more than twice as fast per chunk as the readers it replaced
(``benchmarks/parser_speed.py``).  A chunk of another shape (a number, a string where
text belongs) is a protocol error that names the line.

What a chunk can carry, and where it goes:

* ``delta.content``, ``delta.reasoning_content`` / ``delta.reasoning`` (servers differ
  in the name; the one seen is recorded) and ``delta.tool_calls``: each is output, so
  its arrival time is a token timestamp.  Tool calls are assembled by index.
* a first chunk with only ``delta.role``: noted, not a token.
* ``usage``: on its own chunk with empty ``choices`` (llama.cpp, vLLM) or on the finish
  chunk (transformers serve); where it came is recorded.
* ``timings``: llama.cpp's own measurements, kept for cross-checks.
* ``finish_reason`` and ``[DONE]``: either ends a stream cleanly; servers send one, the
  other, or both.
"""

from __future__ import annotations

from typing import Any

import msgspec

from pytest_mmbench.request.codec import DecodeError, ShapeError, decoder
from pytest_mmbench.request.codec import loads as _loads
from pytest_mmbench.request.trace import ToolCall, Trace

_DONE = b"[DONE]"
_NOT_DATA = (b":", b"event:", b"id:", b"retry:")
_UNPARSED_KEEP = 300


# The fields of a chunk that the parser reads; any other field is validated and skipped.
# gc=False: decoded JSON holds no reference cycles, so the collector need not track them.
class _Delta(msgspec.Struct, gc=False):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[Any] | None = None  # assembled leniently: servers differ in detail
    role: str | None = None


class _Choice(msgspec.Struct, gc=False):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Chunk(msgspec.Struct, gc=False):
    choices: list[_Choice] | None = None
    usage: dict[str, Any] | None = None
    timings: dict[str, Any] | None = None  # llama.cpp
    error: Any = None


_decode_chunk = decoder(_Chunk)


class ChunkParser:
    """Feeds raw response bytes, split into lines, into one :class:`Trace`."""

    __slots__ = ("_pending", "trace")

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self._pending = b""

    def feed(self, data: bytes, now: int) -> None:
        """One network read: it may hold several lines, or end in the middle of one."""
        if self._pending:
            data = self._pending + data
        lines = data.split(b"\n")
        self._pending = lines.pop()
        trace = self.trace
        for line in lines:
            if line:  # blank lines only separate events
                _line(trace, line, now)

    def close(self, now: int) -> None:
        """The body ended: a last line without a newline still counts."""
        if self._pending:
            pending, self._pending = self._pending, b""
            _line(self.trace, pending, now)

    def line(self, line: bytes, now: int) -> None:
        """One line, as read from the stream (without its newline)."""
        _line(self.trace, line, now)


def _line(trace: Trace, line: bytes, now: int) -> None:
    """One line; the hot path of every measured request, so kept flat."""
    if not line.startswith(b"data:"):
        text = line.strip()
        if text and not text.startswith(_NOT_DATA) and len(trace.unparsed_body) < _UNPARSED_KEEP:
            trace.unparsed_body += text[:_UNPARSED_KEEP].decode("utf-8", "replace") + " "
        return
    trace.data_lines += 1
    try:
        chunk = _decode_chunk(line[5:])  # JSON allows the space after "data:"
    except DecodeError as exc:
        payload = line[5:].strip()
        if payload == _DONE:  # once per stream: cheaper here than a test on every line
            trace.saw_done = True
        elif isinstance(exc, ShapeError):
            trace.fail("protocol", f"SSE chunk of an unexpected shape ({exc}): {payload[:200]!r}")
        elif payload:  # an empty data line is a keep-alive, not an error
            trace.fail("protocol", f"malformed SSE data (not JSON): {payload[:200]!r}")
        return
    choices = chunk.choices
    if choices:
        for choice in choices:
            delta = choice.delta
            if delta is not None:
                content = delta.content
                if content and not (delta.reasoning_content or delta.reasoning or delta.tool_calls):
                    trace.content += content  # the common chunk: answer text alone
                    trace.token_ns.append(now)
                    if trace.first_content_ns is None:
                        trace.first_content_ns = now
                else:
                    _delta(trace, delta, content, now)
            finish = choice.finish_reason
            if finish:
                trace.finish_reason = finish
                trace.finish_ns = now
    if chunk.usage or chunk.timings or chunk.error:
        _extras(trace, chunk)


def _extras(trace: Trace, chunk: _Chunk) -> None:
    """Usage, timings and errors ride beside or instead of choices."""
    if chunk.error:
        trace.fail("stream", f"server sent an error mid-stream: {error_text(chunk.error)}")
        return
    if chunk.usage:
        trace.usage = chunk.usage
        trace.usage_on_finish_chunk = any(c.finish_reason for c in chunk.choices or ())
    if chunk.timings:
        trace.timings = chunk.timings


def _delta(trace: Trace, delta: _Delta, content: str | None, now: int) -> None:
    """Every other delta: reasoning (under either name), tool calls, a role."""
    reasoning = delta.reasoning_content
    if reasoning:
        trace.reasoning_field = "reasoning_content"
    else:
        reasoning = delta.reasoning
        if reasoning:
            trace.reasoning_field = "reasoning"
    calls = delta.tool_calls
    if content:
        trace.content += content
    if reasoning:
        trace.reasoning += reasoning
        trace.reasoning_deltas += 1
    if calls:
        try:
            _tool_calls(trace, calls)
        except (TypeError, AttributeError):  # not a list of objects with text in them
            trace.fail("protocol", f"tool_calls of an unexpected shape: {str(calls)[:200]}")
            return
        trace.tool_call_deltas += 1
    if content or reasoning or calls:
        trace.token_ns.append(now)
        if (content or calls) and trace.first_content_ns is None:
            trace.first_content_ns = now
    elif delta.role is not None and not trace.token_ns:
        trace.role_chunk = True


def _tool_calls(trace: Trace, deltas: list[dict[str, Any]]) -> None:
    """Assemble streamed calls: the first delta of an index names the function, later
    ones append argument text."""
    for part in deltas:
        index = part.get("index")
        if not isinstance(index, int):
            index = len(trace.tool_calls)
        call = next((c for c in trace.tool_calls if c.index == index), None)
        if call is None:
            call = ToolCall(index=index)
            trace.tool_calls.append(call)
        if part.get("id") and call.id is None:
            call.id = part["id"]
        function = part.get("function") or {}
        if function.get("name"):
            call.name += function["name"]
        if function.get("arguments"):
            call.arguments += function["arguments"]


def error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    return str(error)[:300]


def error_body(text: str) -> str:
    """The message of an HTTP error body: ``{"error": {"message": ...}}``, FastAPI's
    ``{"detail": ...}``, or the text itself."""
    try:
        parsed = _loads(text)
    except ValueError:
        return text.strip()[:300] or "(empty body)"
    if isinstance(parsed, dict):
        if "error" in parsed:
            return error_text(parsed["error"])
        if "detail" in parsed:
            return error_text(parsed["detail"])
    return text.strip()[:300]
