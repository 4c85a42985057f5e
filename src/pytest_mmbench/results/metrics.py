"""The one metrics function: per-request figures from a :class:`~.request.trace.Trace`.

Definitions (stated once, used by case rounds and load points alike; the README
repeats them):

* origin: when the request was due.  A case round is due when it is sent; a load
  request is due at its arrival time or free slot, so waiting in our own client
  counts, and is also reported alone as ``queue_ms``.
* TTFT: origin to the first content, reasoning *or tool-call* delta (a role-only
  chunk does not count).  TTFO: origin to the first answer delta (content or tool
  call), which differs from TTFT when a model reasons first.
* end-to-end latency: origin to the end of the stream.
* ITL: gaps between consecutive output deltas, as they arrived.  A server that packs
  several tokens into a chunk shows as ``tokens_per_chunk`` above 1: ITL then
  measures chunks, not tokens.
* TPOT: (finish - first delta) / (output tokens - 1), where "finish" is the arrival
  of the chunk carrying ``finish_reason`` (the last delta if none came).  Ending
  there matters: the usage count includes a stop token that is sampled but never
  streamed, so a 7-delta answer of 8 tokens spans 7 token times, not 6.  decode tok/s
  is its inverse, llama.cpp's ``timings.predicted_per_second`` definition.
* output tok/s: output tokens / end-to-end time (seed 000's definition).
* reasoning and answer tokens: the server's ``completion_tokens_details.reasoning_tokens``
  where it sends them, else the reasoning deltas counted (``reasoning_tokens_estimated``);
  answer tokens are the output tokens less the reasoning ones.

Output tokens come from the server's usage; when it sends none, deltas are counted
and the figure is marked ``estimated``.  A figure that cannot be computed is ``None``
with a reason in ``missing``: never a zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.results.stats import percentile

NS_PER_MS = 1_000_000


@dataclass
class RequestMetrics:
    ttft_ms: float | None = None
    ttfo_ms: float | None = None
    e2e_ms: float | None = None
    queue_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p90_ms: float | None = None
    itl_p99_ms: float | None = None
    tpot_ms: float | None = None
    output_tokens: int | None = None
    output_tokens_estimated: bool = False
    input_tokens: int | None = None
    cached_tokens: int | None = None
    reasoning_tokens: int | None = None
    reasoning_tokens_estimated: bool = False
    answer_tokens: int | None = None  # output tokens that were not reasoning
    tokens_per_chunk: float | None = None
    output_tok_s: float | None = None
    decode_tok_s: float | None = None
    missing: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NUMERIC_METRICS = (
    "ttft_ms",
    "ttfo_ms",
    "e2e_ms",
    "itl_p50_ms",
    "itl_p90_ms",
    "itl_p99_ms",
    "tpot_ms",
    "output_tokens",
    "input_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "answer_tokens",
    "output_tok_s",
    "decode_tok_s",
)


def gaps_ms(trace: Trace) -> list[float]:
    """Inter-token (inter-chunk) gaps of one request, in arrival order."""
    return [(b - a) / NS_PER_MS for a, b in pairwise(trace.token_ns)]


def compute(trace: Trace) -> RequestMetrics:
    """Derive the figures of one request; a failed request yields only reasons."""
    m = RequestMetrics()
    origin = trace.due_ns if trace.due_ns is not None else trace.sent_ns
    if trace.first_sent_ns:  # clamped: a timer may fire a hair before it was due
        m.queue_ms = max(0.0, (trace.first_sent_ns - origin) / NS_PER_MS)
    if not trace.ok or trace.end_ns is None:
        reason = f"request failed: {trace.error}"
        m.missing = {name: reason for name in NUMERIC_METRICS}
        return m

    m.e2e_ms = (trace.end_ns - origin) / NS_PER_MS
    _tokens(m, trace)
    stamps = trace.token_ns
    if not stamps:
        m.missing["ttft_ms"] = "the server streamed no content, reasoning or tool-call delta"
    else:
        m.ttft_ms = (stamps[0] - origin) / NS_PER_MS
    if trace.first_content_ns is not None:
        m.ttfo_ms = (trace.first_content_ns - origin) / NS_PER_MS
    else:
        m.missing["ttfo_ms"] = "no answer delta (content or tool call) arrived"

    gaps = gaps_ms(trace)
    if gaps:
        m.itl_p50_ms = percentile(gaps, 50)
        m.itl_p90_ms = percentile(gaps, 90)
        m.itl_p99_ms = percentile(gaps, 99)
    else:
        for name in ("itl_p50_ms", "itl_p90_ms", "itl_p99_ms"):
            m.missing[name] = "fewer than two output deltas, so no inter-token gap"

    if m.output_tokens is not None and m.e2e_ms > 0:
        m.output_tok_s = m.output_tokens / (m.e2e_ms / 1000)
    else:
        m.missing.setdefault("output_tok_s", "no output token count")

    decode_end = max(trace.finish_ns or 0, stamps[-1]) if stamps else 0
    decode_span_ms = (decode_end - stamps[0]) / NS_PER_MS if stamps else 0.0
    if m.output_tokens is not None and m.output_tokens > 1 and decode_span_ms > 0:
        m.tpot_ms = decode_span_ms / (m.output_tokens - 1)
        m.decode_tok_s = 1000 / m.tpot_ms
    else:
        reason = "needs at least two output tokens arriving at different times"
        m.missing["tpot_ms"] = reason
        m.missing["decode_tok_s"] = reason
    return m


def _tokens(m: RequestMetrics, trace: Trace) -> None:
    usage = trace.usage or {}
    deltas = len(trace.token_ns)
    completion = usage.get("completion_tokens")
    if isinstance(completion, int):
        m.output_tokens = completion
        if deltas:
            m.tokens_per_chunk = completion / deltas
    elif deltas:
        m.output_tokens = deltas
        m.output_tokens_estimated = True
        m.missing["output_tokens_server"] = (
            "server sent no usage; output tokens counted from deltas"
        )
        m.missing["tokens_per_chunk"] = "server sent no usage to compare the deltas with"
    else:
        m.missing["output_tokens"] = "server sent no usage and no output delta"
        m.missing["tokens_per_chunk"] = "server sent no usage and no output delta"
    prompt = usage.get("prompt_tokens")
    if isinstance(prompt, int):
        m.input_tokens = prompt
    else:
        m.missing["input_tokens"] = "server sent no usage.prompt_tokens"
    m.cached_tokens = trace.cached_tokens
    if m.cached_tokens is None:
        m.missing["cached_tokens"] = "server did not report usage.prompt_tokens_details"
    details = usage.get("completion_tokens_details") or {}
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if isinstance(reasoning, int):
        m.reasoning_tokens = reasoning
    else:
        m.reasoning_tokens = trace.reasoning_deltas
        m.reasoning_tokens_estimated = True
    if m.output_tokens is not None:
        # Estimated along with the reasoning count: a server that hides the think tags
        # (llama.cpp) still counts them, so the answer share is then approximate.
        m.answer_tokens = max(0, m.output_tokens - m.reasoning_tokens)
    else:
        m.missing["answer_tokens"] = "no output token count"
