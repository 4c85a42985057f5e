"""An endpoint's power over the whole run, bounded, with its request windows on it.

Windows give one figure per request; the timeline is how a reader sees that the
figure is real: power rising when a request starts, falling when it ends, the idle
baseline in between.  Every sample the sampler takes (background and window edges) is
kept until there are ``max_points``; then neighbours are merged in pairs and later
samples are merged in groups of the new stride, so a run of any length keeps between
``max_points / 2`` and ``max_points`` points.  A merged point holds the mean power (what
a longer sample period would have shown) and the peak temperature and memory (so a
spike is not averaged away).  A sample without a power figure stays ``None``: a gap on
the chart, never a zero.

Points and windows share one clock (``time.perf_counter_ns``, written as seconds since
the timeline began) and the wall-clock time it began, so the trace can be laid next to
server logs or a Prometheus range.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_mmbench.telemetry.model import Sample
from pytest_mmbench.telemetry.window import gpu_max, gpu_total

MAX_POINTS = 3000  # a few thousand: a sharp chart, ~100 kB of JSON per endpoint
MAX_WINDOWS = 5000  # beyond this the windows are counted, not kept
# Points and window edges are rounded alike (0.1 ms): a window's closing edge is a sample
# itself, and must not land past the last point by rounding alone.
TIME_DECIMALS = 4


@dataclass(frozen=True)
class _Point:
    t_ns: float
    power_w: float | None
    temp_c: float | None
    mem_mib: float | None
    samples: int = 1


def _point(sample: Sample) -> _Point:
    if sample.error is not None:
        return _Point(sample.t_ns, None, None, None)
    return _Point(
        sample.t_ns,
        gpu_total(sample.gpus, "best_power_w"),
        gpu_max(sample.gpus, "temp_c"),
        gpu_total(sample.gpus, "mem_used_mib"),
    )


def _merge(points: Sequence[_Point]) -> _Point:
    count = sum(p.samples for p in points)
    powered = [p for p in points if p.power_w is not None]
    weight = sum(p.samples for p in powered)
    temps = [p.temp_c for p in points if p.temp_c is not None]
    memory = [p.mem_mib for p in points if p.mem_mib is not None]
    return _Point(
        sum(p.t_ns * p.samples for p in points) / count,
        sum(p.power_w * p.samples for p in powered if p.power_w is not None) / weight
        if weight
        else None,
        max(temps) if temps else None,
        max(memory) if memory else None,
        count,
    )


@dataclass(frozen=True)
class TimelineWindow:
    """One measured stretch: a case's round, a load point, or the idle baseline."""

    label: str  # the case id, or "<case> <point>" for a load point, or "idle"
    kind: str  # "case", "load" or "idle"
    round: int | None
    start_ns: int
    end_ns: int
    energy_j: float | None
    energy_method: str | None
    missing: str | None  # why energy_j is None


class Timeline:
    """Thread-safe: the sampler thread adds samples while the runner adds windows."""

    def __init__(self, max_points: int = MAX_POINTS, max_windows: int = MAX_WINDOWS) -> None:
        if max_points < 4:
            raise ValueError("a timeline needs room for at least 4 points")
        self.max_points = max_points
        self.max_windows = max_windows
        self.start_ns = time.perf_counter_ns()
        self.start_epoch_s = time.time()
        self._points: list[_Point] = []
        self._pending: list[_Point] = []
        self._stride = 1  # samples per point since the last halving
        self._windows: list[TimelineWindow] = []
        self._lock = threading.Lock()
        self.samples = 0
        self.read_errors = 0
        self.windows_dropped = 0

    def add(self, sample: Sample) -> None:
        with self._lock:
            self.samples += 1
            self.read_errors += sample.error is not None
            self._pending.append(_point(sample))
            if len(self._pending) < self._stride:
                return
            self._points.append(_merge(self._pending))
            self._pending = []
            if len(self._points) >= self.max_points:
                self._points = [
                    _merge(self._points[i : i + 2]) for i in range(0, len(self._points), 2)
                ]
                self._stride *= 2

    def add_window(
        self,
        label: str,
        kind: str,
        round_: int | None,
        start_ns: int,
        end_ns: int,
        figures: Mapping[str, Any],
    ) -> None:
        missing = (figures.get("missing") or {}).get("energy_j")
        window = TimelineWindow(
            label,
            kind,
            round_,
            start_ns,
            end_ns,
            figures.get("energy_j"),
            figures.get("energy_method"),
            None if figures.get("energy_j") is not None else str(missing or "no energy figure"),
        )
        with self._lock:
            if len(self._windows) < self.max_windows:
                self._windows.append(window)
            else:
                self.windows_dropped += 1

    def describe(self, source: str | None, idle_power_w: float | None) -> dict[str, Any]:
        """The JSON form: parallel arrays of points, then the windows with energy above idle."""
        with self._lock:
            points = self._points + ([_merge(self._pending)] if self._pending else [])
            windows = list(self._windows)
            stride = self._stride
        temps = [p.temp_c for p in points]
        memory = [p.mem_mib for p in points]
        return {
            "source": source,
            "worker": None,
            "start_epoch_s": round(self.start_epoch_s, 3),
            "samples": self.samples,
            "read_errors": self.read_errors,
            "samples_per_point": stride,
            "idle_power_w": idle_power_w,
            "t_s": [round(self._seconds(p.t_ns), TIME_DECIMALS) for p in points],
            "power_w": [_rounded(p.power_w) for p in points],
            "temp_c": [_rounded(t) for t in temps] if any(t is not None for t in temps) else None,
            "mem_used_mib": [_rounded(m) for m in memory]
            if any(m is not None for m in memory)
            else None,
            "windows": [self._window(w, idle_power_w) for w in windows],
            "windows_dropped": self.windows_dropped,
        }

    def _seconds(self, t_ns: float) -> float:
        return (t_ns - self.start_ns) / 1e9

    def _window(self, window: TimelineWindow, idle_power_w: float | None) -> dict[str, Any]:
        start_s, end_s = self._seconds(window.start_ns), self._seconds(window.end_ns)
        above: float | None = None
        above_missing = window.missing
        if window.kind == "idle":
            above_missing = "the idle window is the baseline"
        elif window.energy_j is not None and idle_power_w is not None:
            above = window.energy_j - idle_power_w * (end_s - start_s)
        elif window.energy_j is not None:
            above_missing = "no idle power measured"
        return {
            "label": window.label,
            "kind": window.kind,
            "round": window.round,
            "start_s": round(start_s, TIME_DECIMALS),
            "end_s": round(end_s, TIME_DECIMALS),
            "energy_j": window.energy_j,
            "energy_method": window.energy_method,
            "energy_above_idle_j": above,
            "missing": None if window.energy_j is not None and above is not None else above_missing,
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
