"""Per-request figures derived from a :class:`~pytest_mmbench.stream.RawStream`.

Definitions (stated once, used everywhere; docs/metrics in the README repeats them):

* TTFT: request start to the first content *or* reasoning delta (the role-only chunk
  does not count).
* end-to-end latency: request start to the end of the stream.
* ITL: gaps between consecutive content/reasoning deltas, as they arrived.
* TPOT: (finish - first delta) / (output tokens - 1): time per output token after the
  first, where "finish" is the arrival of the chunk carrying ``finish_reason`` (the
  last delta if the server sent none).  Ending there, not at the last delta, matters:
  the usage count includes a stop (EOS) token that is sampled but never streamed, so
  a 7-delta answer of 8 tokens spans 7 token times, not 6.  decode tok/s is the
  inverse of TPOT, the same definition as llama.cpp's ``timings.predicted_per_second``.
* output tok/s: output tokens / end-to-end time (seed 000's definition).

Output tokens come from the server's usage; when it sends none we count deltas and
mark the figure ``estimated``.  A figure that cannot be computed is ``None`` with a
reason in ``missing``: never a zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

from .aggregate import percentile
from .stream import RawStream

NS_PER_MS = 1_000_000


@dataclass
class RequestMetrics:
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p90_ms: float | None = None
    itl_p99_ms: float | None = None
    tpot_ms: float | None = None
    output_tokens: int | None = None
    output_tokens_estimated: bool = False
    input_tokens: int | None = None
    reasoning_tokens: int | None = None
    reasoning_tokens_estimated: bool = False
    output_tok_s: float | None = None
    decode_tok_s: float | None = None
    missing: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NUMERIC_METRICS = (
    "ttft_ms",
    "e2e_ms",
    "itl_p50_ms",
    "itl_p90_ms",
    "itl_p99_ms",
    "tpot_ms",
    "output_tokens",
    "input_tokens",
    "reasoning_tokens",
    "output_tok_s",
    "decode_tok_s",
)


def compute(raw: RawStream) -> RequestMetrics:
    """Derive the figures of one request; a failed request yields only reasons."""
    m = RequestMetrics()
    if not raw.ok or raw.end_ns is None:
        reason = f"request failed: {raw.error}"
        m.missing = {name: reason for name in NUMERIC_METRICS}
        return m

    m.e2e_ms = (raw.end_ns - raw.start_ns) / NS_PER_MS
    usage = raw.usage or {}
    _tokens(m, raw, usage)

    stamps = raw.delta_ns
    if not stamps:
        m.missing["ttft_ms"] = "the server streamed no content or reasoning token"
    else:
        m.ttft_ms = (stamps[0] - raw.start_ns) / NS_PER_MS
    gaps = [(b - a) / NS_PER_MS for a, b in pairwise(stamps)]
    if gaps:
        m.itl_p50_ms = percentile(gaps, 50)
        m.itl_p90_ms = percentile(gaps, 90)
        m.itl_p99_ms = percentile(gaps, 99)
    else:
        for name in ("itl_p50_ms", "itl_p90_ms", "itl_p99_ms"):
            m.missing[name] = "fewer than two token deltas, so no inter-token gap"

    if m.output_tokens is not None and m.e2e_ms > 0:
        m.output_tok_s = m.output_tokens / (m.e2e_ms / 1000)
    else:
        m.missing.setdefault("output_tok_s", "no output token count")

    decode_end = max(raw.finish_ns or 0, stamps[-1]) if stamps else 0
    decode_span_ms = (decode_end - stamps[0]) / NS_PER_MS if stamps else 0.0
    if m.output_tokens is not None and m.output_tokens > 1 and decode_span_ms > 0:
        m.tpot_ms = decode_span_ms / (m.output_tokens - 1)
        m.decode_tok_s = 1000 / m.tpot_ms
    else:
        reason = "needs at least two output tokens arriving at different times"
        m.missing["tpot_ms"] = reason
        m.missing["decode_tok_s"] = reason
    return m


def _tokens(m: RequestMetrics, raw: RawStream, usage: dict[str, Any]) -> None:
    completion = usage.get("completion_tokens")
    if isinstance(completion, int):
        m.output_tokens = completion
    else:
        m.output_tokens = raw.content_deltas + raw.reasoning_deltas
        m.output_tokens_estimated = True
        m.missing["output_tokens_server"] = (
            "server sent no usage; output tokens counted from deltas"
        )
    prompt = usage.get("prompt_tokens")
    if isinstance(prompt, int):
        m.input_tokens = prompt
    else:
        m.missing["input_tokens"] = "server sent no usage.prompt_tokens"
    details = usage.get("completion_tokens_details") or {}
    reasoning = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if isinstance(reasoning, int):
        m.reasoning_tokens = reasoning
    else:
        m.reasoning_tokens = raw.reasoning_deltas
        m.reasoning_tokens_estimated = True
