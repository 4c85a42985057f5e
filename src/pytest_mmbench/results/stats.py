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


STATS_FIELDS = ("mean", "stddev", "min", "p50", "p90", "p99", "max", "n")


def spread(values: Iterable[float | None]) -> dict[str, Any]:
    """The one summary of a figure's values, for a case's rounds and a load point's
    requests alike: mean, sample stddev, min, p50/p90/p99, max and n.

    Absent values (``None``) are left out, not counted as zero; with none left every
    statistic is ``None`` and n is 0.  stddev needs two values.
    """
    present = [float(v) for v in values if v is not None]
    if not present:
        return dict.fromkeys(STATS_FIELDS[:-1], None) | {"n": 0}
    return {
        "mean": statistics.fmean(present),
        "stddev": statistics.stdev(present) if len(present) > 1 else None,
        "min": min(present),
        "p50": percentile(present, 50),
        "p90": percentile(present, 90),
        "p99": percentile(present, 99),
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
        "unsupported": sum(1 for r in records if r["status"] == "unsupported"),
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


# --- energy ----------------------------------------------------------------------------------

ENERGY_METRICS = (
    "energy_j",
    "avg_power_w",
    "peak_power_w",
    "j_per_output_token",
    "tok_s_per_w",
    "energy_above_idle_j",
    "avg_temp_c",
    "peak_temp_c",
    "mem_used_peak_mib",
)


def energy_figures(
    window: Mapping[str, Any],
    output_tokens: int | None,
    output_tok_s: float | None,
    idle_power_w: float | None,
) -> dict[str, Any]:
    """A request's telemetry window plus the figures derived from it.

    tok/s per watt is seed 000's definition (output tok/s / average power); J per output
    token and J per request use the window's energy; energy above idle subtracts the
    endpoint's idle power over the window's length.  Each is missing with the reason of
    whatever it was built from.
    """
    out = dict(window)
    missing = dict(window.get("missing") or {})
    energy = window.get("energy_j")
    power = window.get("avg_power_w")
    seconds = window.get("window_s")
    out["j_per_request"] = energy
    out["j_per_output_token"] = None
    out["tok_s_per_w"] = None
    out["energy_above_idle_j"] = None
    if energy is None:
        missing["j_per_request"] = missing["j_per_output_token"] = missing.get(
            "energy_j", "no energy figure"
        )
    elif not output_tokens:
        missing["j_per_output_token"] = "no output tokens"
    else:
        out["j_per_output_token"] = energy / output_tokens
    if power is None or power <= 0:
        missing["tok_s_per_w"] = missing.get("avg_power_w", "no power figure")
    elif output_tok_s is None:
        missing["tok_s_per_w"] = "no output tok/s"
    else:
        out["tok_s_per_w"] = output_tok_s / power
    if energy is None or idle_power_w is None or seconds is None:
        missing["energy_above_idle_j"] = (
            missing.get("energy_j") if energy is None else "no idle power measured"
        )
    else:
        out["energy_above_idle_j"] = energy - idle_power_w * seconds
    out["missing"] = missing
    return out


def endpoint_energy(
    records: Sequence[Mapping[str, Any]], mean_output_tok_s: float | None
) -> dict[str, Any]:
    """Seed 000's telemetry row for one endpoint, from its records' windows.

    Average inference power is energy over time across all windows (time-weighted), so
    long cases weigh more, as on a power meter.  tok/s per watt is the endpoint's mean
    output tok/s over that power.
    """
    windows = [
        r["telemetry"] for rec in records for r in rec.get("rounds", ()) if r.get("telemetry")
    ]
    context = (
        next((rec["telemetry_context"] for rec in records if rec.get("telemetry_context")), None)
        or {}
    )
    out: dict[str, Any] = {
        "source": context.get("source"),
        "gpus": context.get("gpu_names") or context.get("gpus") or [],
        "idle_power_w": context.get("idle_power_w"),
        "baseline_mem_mib": context.get("baseline_mem_mib"),
        "windows": len(windows),
        "total_energy_j": None,
        "avg_inference_power_w": None,
        "peak_power_w": None,
        "avg_temp_c": None,
        "peak_temp_c": None,
        "peak_mem_mib": None,
        "tok_s_per_w": None,
        "missing": {},
    }
    missing: dict[str, str] = out["missing"]
    reason = context.get("unavailable") or "no telemetry window recorded"
    with_energy = [w for w in windows if w.get("energy_j") is not None and w.get("window_s")]
    if with_energy:
        total_j = sum(w["energy_j"] for w in with_energy)
        out["total_energy_j"] = total_j
        out["avg_inference_power_w"] = total_j / sum(w["window_s"] for w in with_energy)
    else:
        missing["avg_inference_power_w"] = _first_reason(windows, "energy_j", reason)
    for key, source, pick in (
        ("peak_power_w", "peak_power_w", max),
        ("peak_temp_c", "peak_temp_c", max),
        ("peak_mem_mib", "mem_used_peak_mib", max),
    ):
        values = [w[source] for w in windows if w.get(source) is not None]
        if values:
            out[key] = pick(values)
        else:
            missing[key] = _first_reason(windows, source, reason)
    temps = [
        (w["avg_temp_c"], w.get("window_s") or 0.0)
        for w in windows
        if w.get("avg_temp_c") is not None
    ]
    if temps and sum(t for _, t in temps) > 0:
        out["avg_temp_c"] = sum(v * t for v, t in temps) / sum(t for _, t in temps)
    else:
        missing["avg_temp_c"] = _first_reason(windows, "avg_temp_c", reason)
    power = out["avg_inference_power_w"]
    if power and mean_output_tok_s is not None:
        out["tok_s_per_w"] = mean_output_tok_s / power
    else:
        missing["tok_s_per_w"] = missing.get("avg_inference_power_w", "no output tok/s")
    if out["idle_power_w"] is None:
        missing["idle_power_w"] = context.get("idle_reason") or reason
    if out["baseline_mem_mib"] is None:
        missing["baseline_mem_mib"] = context.get("baseline_mem_reason") or reason
    return out


def _first_reason(windows: Sequence[Mapping[str, Any]], key: str, default: str) -> str:
    for window in windows:
        reason = (window.get("missing") or {}).get(key)
        if reason:
            return str(reason)
    return default
