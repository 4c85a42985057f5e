"""Pure statistics: percentiles, spread across rounds, per-endpoint summaries.

No I/O and no pytest here, so the same functions serve the plugin, the report
re-printer and any later gate.  Missing figures stay missing: a statistic of nothing
is ``None``, never zero.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks.

    This is numpy's default ("linear") method, so figures match what users get from
    ``numpy.percentile`` on the raw samples we store.
    """
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """mean / stddev / min / max / n over the rounds that produced the figure.

    stddev is the sample standard deviation (n - 1), ``None`` with fewer than two values.
    """
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"mean": None, "stddev": None, "min": None, "max": None, "n": 0}
    return {
        "mean": statistics.fmean(present),
        "stddev": statistics.stdev(present) if len(present) > 1 else None,
        "min": min(present),
        "max": max(present),
        "n": len(present),
    }


def mean_or_none(values: Iterable[float | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return statistics.fmean(present) if present else None


def summarize_endpoint(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Seed 000's per-model row: mean tok/s, mean latency, pass count, over one endpoint's cases.

    Means are taken over the cases that produced the figure (each case's own mean over
    rounds), so a skipped or errored case lowers the pass count but never the tok/s.
    """
    measured = [r for r in records if r["status"] in ("passed", "failed")]
    tok_s = [_summary_mean(r, "output_tok_s") for r in measured]
    latency = [_summary_mean(r, "e2e_ms") for r in measured]
    ttft = [_summary_mean(r, "ttft_ms") for r in measured]
    decided = [r for r in records if r["status"] in ("passed", "failed", "error")]
    passed = sum(1 for r in records if r["status"] == "passed")
    return {
        "cases": len(records),
        "passed": passed,
        "failed": sum(1 for r in records if r["status"] == "failed"),
        "errors": sum(1 for r in records if r["status"] == "error"),
        "skipped": sum(1 for r in records if r["status"] == "skipped"),
        "pass_rate": passed / len(decided) if decided else None,
        "mean_output_tok_s": mean_or_none(tok_s),
        "mean_e2e_ms": mean_or_none(latency),
        "mean_ttft_ms": mean_or_none(ttft),
    }


def _summary_mean(record: Mapping[str, Any], metric: str) -> float | None:
    summary = record.get("summary") or {}
    figure = summary.get(metric) or {}
    value = figure.get("mean")
    return None if value is None else float(value)
