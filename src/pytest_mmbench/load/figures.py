"""A load point's row: latency percentiles, throughput, RPM, errors, goodput, queueing.

Definitions (the README repeats them):

* TTFT: from when the request was *due* to its first content/reasoning chunk, so any
  wait in our own client counts; that wait is also reported alone as ``queue_ms``.
* end-to-end latency: from due to the end of the stream.
* ITL: gaps between consecutive token chunks of a request, pooled over the point.
* TPOT (per request): (finish chunk - first token) / (output tokens - 1).
* output throughput: all output tokens / the point's wall time; total token throughput
  adds input tokens; request throughput and RPM count completed requests.
* goodput: completed requests meeting every SLO figure, per second of wall time.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from ..aggregate import percentile
from .client import RequestRecord
from .engine import PointRun

CLIENT_BOUND_SHARE = 0.9  # of one core


def distribution(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "min": None, "p50": None, "p90": None, "p99": None, "max": None}
    return {
        "mean": statistics.fmean(values),
        "min": min(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def tpot_ms(record: RequestRecord) -> float | None:
    if not record.token_ns or not record.output_tokens or record.output_tokens < 2:
        return None
    end = max(record.finish_ns or 0, record.token_ns[-1])
    span = end - record.token_ns[0]
    return span / 1e6 / (record.output_tokens - 1) if span > 0 else None


def meets_slo(record: RequestRecord, slo: Mapping[str, float]) -> bool:
    if record.error or not record.token_ns or record.end_ns is None:
        return False
    figures = {
        "ttft_ms": (record.token_ns[0] - record.due_ns) / 1e6,
        "e2e_ms": (record.end_ns - record.due_ns) / 1e6,
        "tpot_ms": tpot_ms(record),
    }
    return all(
        figures[key] is not None and figures[key] <= limit  # type: ignore[operator]
        for key, limit in slo.items()
    )


def point_row(run: PointRun, slo: Mapping[str, float]) -> dict[str, Any]:
    wall_s = (run.end_ns - run.start_ns) / 1e9
    done = [r for r in run.records if r.error is None and r.token_ns and r.end_ns]
    failed = [r for r in run.records if r.error is not None]
    out_tokens = [r.output_tokens for r in done if r.output_tokens is not None]
    in_tokens = [r.input_tokens for r in done if r.input_tokens is not None]
    itl = [(b - a) / 1e6 for r in done for a, b in pairwise(r.token_ns)]
    tpots = [t for t in (tpot_ms(r) for r in done) if t is not None]
    per_request_tok_s = [
        r.output_tokens / ((r.end_ns - r.sent_ns) / 1e9)
        for r in done
        if r.output_tokens and r.end_ns and r.end_ns > r.sent_ns
    ]
    cpu_share = run.client_cpu_s / wall_s / max(1, run.processes) if wall_s > 0 else None
    row: dict[str, Any] = {
        "requests": len(run.records),
        "completed": len(done),
        "errors": len(failed),
        "error_rate": len(failed) / len(run.records) if run.records else None,
        "error_examples": sorted({r.error or "" for r in failed})[:3],
        "wall_s": wall_s,
        "ttft_ms": distribution([(r.token_ns[0] - r.due_ns) / 1e6 for r in done]),
        "e2e_ms": distribution([(r.end_ns - r.due_ns) / 1e6 for r in done if r.end_ns]),
        "itl_ms": distribution(itl),
        "tpot_ms": distribution(tpots),
        "queue_ms": distribution(
            [((r.first_sent_ns or r.sent_ns) - r.due_ns) / 1e6 for r in run.records]
        ),
        "request_output_tok_s": distribution(per_request_tok_s),
        "output_tokens": distribution([float(t) for t in out_tokens]),
        "input_tokens": distribution([float(t) for t in in_tokens]),
        "output_tok_s": sum(out_tokens) / wall_s if wall_s > 0 and out_tokens else None,
        "total_tok_s": (sum(out_tokens) + sum(in_tokens)) / wall_s
        if wall_s > 0 and out_tokens and in_tokens
        else None,
        "request_rate": len(done) / wall_s if wall_s > 0 else None,
        "rpm": 60 * len(done) / wall_s if wall_s > 0 else None,
        "goodput_rps": None,
        "goodput_share": None,
        "client_cpu_s": run.client_cpu_s,
        "client_cpu_share": cpu_share,
        "client_bound": cpu_share is not None and cpu_share >= CLIENT_BOUND_SHARE,
        "processes": run.processes,
        "stale_connection_retries": sum(r.stale_connection_retries for r in run.records),
        "server_decode_tok_s": distribution(
            [r.server_decode_tok_s for r in done if r.server_decode_tok_s is not None]
        ),
        "server_prompt_ms": distribution(
            [r.server_prompt_ms for r in done if r.server_prompt_ms is not None]
        ),
        "missing": {},
    }
    if slo:
        good = sum(1 for r in done if meets_slo(r, slo))
        row["goodput_rps"] = good / wall_s if wall_s > 0 else None
        row["goodput_share"] = good / len(run.records) if run.records else None
    else:
        row["missing"]["goodput_rps"] = "no SLO given (--mm-slo=ttft_ms:200,tpot_ms:50)"
    if not out_tokens:
        row["missing"]["output_tok_s"] = "no completed request reported output tokens"
    return row
