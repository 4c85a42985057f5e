"""The one chunk parser: bytes of an OpenAI chat-completions SSE stream into a Trace.

Every ``data:`` line is parsed as JSON, exactly: a byte scan for keys was measured no
faster than ``json.loads`` and is wrong on edge cases (escaped quotes, keys inside
content).  orjson is used where it is installed, the standard library otherwise; the
benchmark ``benchmarks/parser_speed.py`` measures both against the readers this
replaced.

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

from pytest_mmbench.request.codec import loads as _loads
from pytest_mmbench.request.trace import ToolCall, Trace

_DONE = b"[DONE]"
_NOT_DATA = (b":", b"event:", b"id:", b"retry:")
_UNPARSED_KEEP = 300


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
        chunk = _loads(line[5:])  # JSON allows the space after "data:"
    except ValueError:
        payload = line[5:].strip()
        if payload == _DONE:  # once per stream: cheaper here than a test on every line
            trace.saw_done = True
        elif payload:  # an empty data line is a keep-alive, not an error
            trace.fail("protocol", f"malformed SSE data (not JSON): {payload[:200]!r}")
        return
    try:  # free on 3.11+; valid JSON of the wrong shape becomes an error, not a crash
        choices = chunk.get("choices")
        if choices:
            for choice in choices:
                delta = choice.get("delta")
                if delta:
                    content = delta.get("content")
                    if content and (len(delta) == 1 or _plain(delta)):  # the common chunk
                        trace.content += content
                        trace.token_ns.append(now)
                        if trace.first_content_ns is None:
                            trace.first_content_ns = now
                    else:
                        _delta(trace, delta, content, now)
                finish = choice.get("finish_reason")
                if finish:
                    trace.finish_reason = finish
                    trace.finish_ns = now
        if chunk.get("usage") or chunk.get("timings") or chunk.get("error"):
            _extras(trace, chunk, choices)
    except (TypeError, AttributeError):
        trace.fail("protocol", f"SSE chunk of an unexpected shape: {line[5:205]!r}")


def _plain(delta: dict[str, Any]) -> bool:
    """Content beside only a role or null fields (TGI, Ollama, SGLang send those)."""
    return not (delta.get("reasoning_content") or delta.get("reasoning") or delta.get("tool_calls"))


def _extras(trace: Trace, chunk: dict[str, Any], choices: Any) -> None:
    """Usage, timings and errors ride beside or instead of choices."""
    if chunk.get("error"):
        trace.fail("stream", f"server sent an error mid-stream: {error_text(chunk['error'])}")
        return
    usage = chunk.get("usage")
    if usage:
        trace.usage = usage
        trace.usage_on_finish_chunk = any(c.get("finish_reason") for c in choices or ())
    timings = chunk.get("timings")
    if timings:
        trace.timings = timings


def _delta(trace: Trace, delta: dict[str, Any], content: Any, now: int) -> None:
    """Every other delta: reasoning (under either name), tool calls, a role."""
    reasoning = delta.get("reasoning_content")
    if reasoning:
        trace.reasoning_field = "reasoning_content"
    else:
        reasoning = delta.get("reasoning")
        if reasoning:
            trace.reasoning_field = "reasoning"
    calls = delta.get("tool_calls")
    if content:
        trace.content += content
    if reasoning:
        trace.reasoning += reasoning
        trace.reasoning_deltas += 1
    if calls:
        _tool_calls(trace, calls)
        trace.tool_call_deltas += 1
    if content or reasoning or calls:
        trace.token_ns.append(now)
        if (content or calls) and trace.first_content_ns is None:
            trace.first_content_ns = now
    elif "role" in delta and not trace.token_ns:
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
