"""The one raw record of a streamed request: timestamps and server counts, no arithmetic.

Both the per-case runner and the load engine fill a :class:`Trace` through the same
parser (:mod:`.sse`) and hand it to the same metrics function.  It is a plain
dataclass of numbers and strings, so it pickles across client processes unchanged.

Times are ``time.perf_counter_ns()`` except ``wall_start``, the epoch seconds at which
the request was due: that one exists so a run can be laid next to server logs or a
Prometheus timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ToolCall:
    """One streamed tool call, assembled from its deltas in the order they came."""

    index: int
    id: str | None = None
    name: str = ""
    arguments: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(slots=True)  # slots: the parser touches these attributes on every chunk
class Trace:
    """Everything observed about one streamed chat completion."""

    index: int = 0  # request number within a load point, round number within a case
    due_ns: int | None = None  # when it was due: arrival time, free slot, or the send time
    wall_start: float = 0.0  # epoch seconds of due_ns
    first_sent_ns: int = 0  # first attempt went out: first_sent - due is our own queueing
    sent_ns: int = 0  # the (last) attempt went out
    headers_ns: int | None = None
    end_ns: int | None = None
    token_ns: list[int] = field(default_factory=list)  # every content/reasoning/tool delta
    first_content_ns: int | None = None  # first answer (content or tool call) delta
    finish_ns: int | None = None
    reasoning_deltas: int = 0
    tool_call_deltas: int = 0
    content: str = ""
    reasoning: str = ""
    reasoning_field: str | None = None  # "reasoning_content" or "reasoning"
    tool_calls: list[ToolCall] = field(default_factory=list)
    role_chunk: bool = False  # a first chunk carrying only the role
    usage: dict[str, Any] | None = None
    usage_on_finish_chunk: bool | None = None  # None: no usage at all
    timings: dict[str, Any] | None = None  # llama.cpp's own timings
    finish_reason: str | None = None
    status_code: int | None = None
    content_type: str | None = None
    saw_done: bool = False
    data_lines: int = 0
    unparsed_body: str = ""  # the start of a body that had no SSE data lines
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

    def restart(self) -> None:
        """Forget a failed attempt (a stale pooled socket) before sending it again."""
        fresh = Trace(index=self.index, due_ns=self.due_ns, wall_start=self.wall_start)
        fresh.first_sent_ns = self.first_sent_ns
        fresh.stale_connection_retries = self.stale_connection_retries + 1
        for name in self.__slots__:
            setattr(self, name, getattr(fresh, name))

    def to_wire(self) -> dict[str, Any]:
        """Plain types only, for an execnet channel from a client on another host."""
        data = {name: getattr(self, name) for name in self.__slots__}
        data["tool_calls"] = [call.to_dict() for call in self.tool_calls]
        return data

    @classmethod
    def from_wire(cls, data: dict[str, Any]) -> Trace:
        trace = cls()
        for name in cls.__slots__:
            if name in data:
                setattr(trace, name, data[name])
        trace.tool_calls = [ToolCall(**call) for call in data.get("tool_calls", [])]
        return trace

    @property
    def cached_tokens(self) -> int | None:
        """Prompt tokens the server served from its prefix cache, where it says so."""
        details = (self.usage or {}).get("prompt_tokens_details")
        value = details.get("cached_tokens") if isinstance(details, dict) else None
        return value if isinstance(value, int) else None
