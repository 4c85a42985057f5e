"""Window arithmetic: per-request energy, power, temperature and memory from samples.

Pure functions over time-sorted samples.  A window is bounded by two samples the
sampler takes synchronously at its open and close, so the energy counter is read at
the window's true edges; samples taken by the background thread in between give the
power curve, peaks and temperatures.

Energy: the cumulative counter's delta when every GPU has one (NVML total energy,
DCGM total energy) and the window is long enough for the counter's ~100 ms steps not to
dominate; otherwise the trapezoid integral of (instantaneous) power over the samples.
A counter that went backwards (reset) is not trusted; a window shorter than the
sensor refresh gets no energy figure.  Missing figures are ``None`` with a reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from pytest_mmbench.telemetry.model import GpuReading, Sample

SENSOR_REFRESH_S = 0.1  # NVML refreshes power and energy about every 100 ms
# The counter is read at the edges but only changes every SENSOR_REFRESH_S, so its delta
# may miss up to one refresh of energy: an error bound of SENSOR_REFRESH_S / window.  Below
# this length that bound (5 %) is worse than integrating 10 Hz instantaneous power.
COUNTER_MIN_WINDOW_S = 2.0
FIGURES = (
    "energy_j",
    "avg_power_w",
    "peak_power_w",
    "avg_temp_c",
    "peak_temp_c",
    "mem_used_peak_mib",
    "util_avg_pct",
)


def summarize(
    samples: Sequence[Sample], start_ns: int, end_ns: int, unsupported: Mapping[str, str]
) -> dict[str, Any]:
    """Figures for the window [start_ns, end_ns] (the two edge samples' times)."""
    duration_s = (end_ns - start_ns) / 1e9
    inside = [s for s in samples if start_ns <= s.t_ns <= end_ns and s.error is None]
    failed = [s.error for s in samples if start_ns <= s.t_ns <= end_ns and s.error]
    out: dict[str, Any] = {name: None for name in FIGURES}
    out.update(
        window_s=duration_s,
        samples=len(inside),
        energy_method=None,
        throttle_reasons=[],
        throttle_changed=False,
        missing={},
    )
    missing: dict[str, str] = out["missing"]
    if len(inside) < 2:
        reason = (
            f"telemetry failed during the window: {failed[-1]}"
            if failed
            else "fewer than two telemetry samples in the window"
        )
        for name in FIGURES:
            missing[name] = reason
        return out

    _energy(out, inside, duration_s, unsupported)
    powers = [gpu_total(s.gpus, "best_power_w") for s in inside]
    present = [p for p in powers if p is not None]
    if out["energy_j"] is not None and duration_s > 0:
        out["avg_power_w"] = out["energy_j"] / duration_s
    elif present:
        out["avg_power_w"] = sum(present) / len(present)
    else:
        missing["avg_power_w"] = unsupported.get("power_w", "no power readings")
    if present:
        out["peak_power_w"] = max(present)
    else:
        missing["peak_power_w"] = unsupported.get("power_w", "no power readings")

    temps = [gpu_max(s.gpus, "temp_c") for s in inside]
    _mean_and_peak(
        out,
        missing,
        temps,
        "avg_temp_c",
        "peak_temp_c",
        unsupported.get("temp_c", "no temperature readings"),
    )
    memory = [m for m in (gpu_total(s.gpus, "mem_used_mib") for s in inside) if m is not None]
    if memory:
        out["mem_used_peak_mib"] = max(memory)
    else:
        missing["mem_used_peak_mib"] = unsupported.get("mem_used_mib", "no memory readings")
    utils = [u for u in (gpu_mean(s.gpus, "util_pct") for s in inside) if u is not None]
    if utils:
        out["util_avg_pct"] = sum(utils) / len(utils)
    else:
        missing["util_avg_pct"] = unsupported.get("util_pct", "no utilisation readings")

    seen = [frozenset().union(*(g.throttle for g in s.gpus)) for s in inside]
    out["throttle_reasons"] = sorted(frozenset().union(*seen))
    out["throttle_changed"] = any(reasons != seen[0] for reasons in seen)
    return out


def _energy(
    out: dict[str, Any], inside: Sequence[Sample], duration_s: float, unsupported: Mapping[str, str]
) -> None:
    missing = out["missing"]
    first, last = inside[0], inside[-1]
    counter_reason = unsupported.get("energy_j")
    if counter_reason is None:
        deltas = _counter_deltas(first.gpus, last.gpus)
        if deltas is None:
            counter_reason = "energy counter missing from a reading"
        elif any(d < 0 for d in deltas):
            counter_reason = "energy counter went backwards (reset) during the window"
        elif duration_s < COUNTER_MIN_WINDOW_S:
            counter_reason = (
                f"the {duration_s:.2f} s window is under {COUNTER_MIN_WINDOW_S:g} s, where the "
                f"counter's {SENSOR_REFRESH_S * 1000:.0f} ms steps would dominate"
            )
        else:
            out["energy_j"] = sum(deltas)
            out["energy_method"] = "counter"
            bound = 100 * SENSOR_REFRESH_S / duration_s
            out["energy_note"] = (
                f"counter steps every ~{SENSOR_REFRESH_S * 1000:.0f} ms: within +/-{bound:.1f} %"
            )
            return
    integrated = _integrate(inside)
    if integrated is not None and duration_s >= SENSOR_REFRESH_S:
        out["energy_j"] = integrated
        out["energy_method"] = "power_integration"
        out["energy_note"] = f"counter not used: {counter_reason}"
    elif integrated is not None:
        missing["energy_j"] = (
            f"{counter_reason}; and the {duration_s * 1000:.0f} ms window "
            f"is shorter than the {SENSOR_REFRESH_S * 1000:.0f} ms sensor "
            "refresh, too short to integrate power"
        )
    else:
        missing["energy_j"] = f"{counter_reason}; and no power readings to integrate"


def _counter_deltas(first: Sequence[GpuReading], last: Sequence[GpuReading]) -> list[float] | None:
    begin = {g.index: g.energy_j for g in first}
    deltas = []
    for g in last:
        start = begin.get(g.index)
        if start is None or g.energy_j is None:
            return None
        deltas.append(g.energy_j - start)
    return deltas


def _integrate(inside: Sequence[Sample]) -> float | None:
    points = [(s.t_ns / 1e9, gpu_total(s.gpus, "best_power_w")) for s in inside]
    usable = [(t, p) for t, p in points if p is not None]
    if len(usable) < 2:
        return None
    return sum((t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in pairwise(usable))


def gpu_total(gpus: Sequence[GpuReading], name: str) -> float | None:
    """The endpoint's figure summed over its GPUs; None unless every GPU has it."""
    values = [getattr(g, name) for g in gpus]
    return None if not values or any(v is None for v in values) else float(sum(values))


def gpu_max(gpus: Sequence[GpuReading], name: str) -> float | None:
    """The hottest GPU's figure (temperatures): a partial reading still says something."""
    values = [getattr(g, name) for g in gpus if getattr(g, name) is not None]
    return max(values) if values else None


def gpu_mean(gpus: Sequence[GpuReading], name: str) -> float | None:
    values = [getattr(g, name) for g in gpus if getattr(g, name) is not None]
    return sum(values) / len(values) if values else None


def _mean_and_peak(
    out: dict[str, Any],
    missing: dict[str, str],
    values: list[float | None],
    mean_key: str,
    peak_key: str,
    reason: str,
) -> None:
    present = [v for v in values if v is not None]
    if present:
        out[mean_key] = sum(present) / len(present)
        out[peak_key] = max(present)
    else:
        missing[mean_key] = missing[peak_key] = reason
