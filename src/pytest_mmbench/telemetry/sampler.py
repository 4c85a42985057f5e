"""The background sampler and the per-endpoint telemetry object the runner uses.

A :class:`Sampler` reads its source at a fixed rate in a daemon thread and on demand
(the window edges).  :class:`EndpointTelemetry` wraps it for one endpoint: an idle
window and memory baseline before the endpoint's first case, then one window around
each recorded request.  If the source cannot be used, every window is returned empty
with the reason, and the benchmark goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pytest_mmbench.telemetry.model import Sample, Source, TelemetryReadError, TelemetryUnavailable
from pytest_mmbench.telemetry.timeline import Timeline
from pytest_mmbench.telemetry.window import FIGURES, summarize


class Sampler:
    def __init__(self, source: Source, hz: float) -> None:
        self.source = source
        self.period_s = 1.0 / hz
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()  # sources are not required to be thread-safe
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.thread_cpu_s = 0.0  # CPU time the sampling thread used, for overhead checks
        self.reads = 0
        # Windows keep only their own samples (forget_before); the timeline keeps them all,
        # downsampled, for the report's power-over-time chart.
        self.timeline = Timeline()

    def start(self) -> None:
        """Open the source (may raise TelemetryUnavailable) and start sampling."""
        self.source.open()
        self._thread = threading.Thread(target=self._run, name="mmbench-telemetry", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.perf_counter()
        while not self._stop.is_set():
            cpu_before = time.thread_time()
            self.sample_now(edge=False)
            self.thread_cpu_s += time.thread_time() - cpu_before
            next_at += self.period_s
            delay = next_at - time.perf_counter()
            if delay < 0:  # fell behind (slow source): skip, do not burst
                next_at = time.perf_counter()
                delay = 0
            self._stop.wait(delay)

    def sample_now(self, edge: bool = True) -> Sample:
        """Read now; ``edge`` samples (window open/close) include the energy counter."""
        with self._read_lock:
            try:
                gpus = self.source.read(with_energy=edge)
                sample = Sample(t_ns=time.perf_counter_ns(), gpus=gpus)
            except TelemetryReadError as exc:
                sample = Sample(t_ns=time.perf_counter_ns(), error=str(exc))
            self.reads += 1
        with self._lock:
            self._samples.append(sample)
        self.timeline.add(sample)
        return sample

    def between(self, start_ns: int, end_ns: int) -> list[Sample]:
        with self._lock:
            return [s for s in self._samples if start_ns <= s.t_ns <= end_ns]

    def forget_before(self, t_ns: int) -> None:
        with self._lock:
            self._samples = [s for s in self._samples if s.t_ns >= t_ns]

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.source.close()


@dataclass
class Window:
    """Filled in when the ``with`` block ends."""

    result: dict[str, Any] = field(default_factory=dict)
    start_ns: int | None = None
    label: str = ""  # how the power timeline names it: the case id, a load point, "idle"
    kind: str = "case"
    round: int | None = None


def empty_window(reason: str) -> dict[str, Any]:
    figures: dict[str, Any] = {name: None for name in FIGURES}
    figures.update(
        window_s=None,
        samples=0,
        energy_method=None,
        throttle_reasons=[],
        throttle_changed=False,
        missing={name: reason for name in FIGURES},
    )
    return figures


class EndpointTelemetry:
    def __init__(self, source: Source | None, hz: float, idle_s: float, reason: str = "") -> None:
        self.unavailable = reason if source is None else None
        self._source = source
        self._hz = hz
        self._idle_s = idle_s
        self._sampler: Sampler | None = None
        self._timeline: Timeline | None = None  # outlives the sampler, for the report
        self._prepared = False
        self.idle: dict[str, Any] | None = None
        self.baseline_mem_mib: float | None = None
        self.baseline_reason: str | None = None
        self._source_name: str | None = None

    @property
    def sampler(self) -> Sampler | None:
        return self._sampler

    def prepare(self) -> None:
        """Start sampling; record the memory baseline and idle power (once)."""
        if self._prepared:
            return
        self._prepared = True
        if self._source is None:
            return
        sampler = Sampler(self._source, self._hz)
        try:
            sampler.start()
        except TelemetryUnavailable as exc:
            self.unavailable = str(exc)
            return
        self._sampler = sampler
        self._timeline = sampler.timeline
        self._source_name = self._source.info.name
        first = sampler.sample_now()
        memory = [g.mem_used_mib for g in first.gpus]
        if first.error is None and memory and all(m is not None for m in memory):
            self.baseline_mem_mib = float(sum(m for m in memory if m is not None))
        else:
            self.baseline_reason = first.error or self._source.info.unsupported.get(
                "mem_used_mib", "no memory reading"
            )
        if self._idle_s > 0:
            with self.window("idle", kind="idle") as idle:
                time.sleep(self._idle_s)
            self.idle = idle.result

    @contextmanager
    def window(self, label: str = "", kind: str = "case") -> Iterator[Window]:
        window = self.open_window(label, kind)
        try:
            yield window
        finally:
            self.close_window(window)

    def open_window(self, label: str = "", kind: str = "case", round_: int | None = None) -> Window:
        """Start a window with a synchronous edge reading (energy counter included)."""
        window = Window(label=label, kind=kind, round=round_)
        if self._sampler is not None:
            window.start_ns = self._sampler.sample_now().t_ns
        return window

    def close_window(self, window: Window) -> None:
        """End a window with a second edge reading and compute its figures."""
        sampler = self._sampler
        if sampler is None or window.start_ns is None:
            window.result = empty_window(self.unavailable or "telemetry was not started")
            return
        end = sampler.sample_now()
        samples = sampler.between(window.start_ns, end.t_ns)
        window.result = summarize(
            samples, window.start_ns, end.t_ns, sampler.source.info.unsupported
        )
        sampler.timeline.add_window(
            window.label, window.kind, window.round, window.start_ns, end.t_ns, window.result
        )
        sampler.forget_before(end.t_ns)

    def timeline(self) -> dict[str, Any] | None:
        """The power timeline so far (None when no source was ever sampled)."""
        if self._timeline is None:
            return None
        idle = self.idle.get("avg_power_w") if self.idle else None
        return self._timeline.describe(self._source_name, idle)

    def context(self) -> dict[str, Any]:
        """Endpoint-level facts that ride on every record (so xdist workers report them)."""
        info = self._sampler.source.info if self._sampler is not None else None
        idle_power = self.idle.get("avg_power_w") if self.idle else None
        return {
            "source": info.name if info else None,
            "gpus": list(info.gpus) if info else [],
            "gpu_names": list(info.gpu_names) if info else [],
            "sample_hz": self._hz,
            "unavailable": self.unavailable,
            "unsupported": dict(info.unsupported) if info else {},
            "notes": dict(info.notes) if info else {},
            "idle_power_w": idle_power,
            "idle_window_s": self.idle.get("window_s") if self.idle else None,
            "idle_reason": None if idle_power is not None else self._idle_reason(),
            "baseline_mem_mib": self.baseline_mem_mib,
            "baseline_mem_reason": None
            if self.baseline_mem_mib is not None
            else (self.baseline_reason or self.unavailable),
        }

    def _idle_reason(self) -> str:
        if self.unavailable:
            return self.unavailable
        if self._idle_s <= 0:
            return "idle measurement disabled (--mm-idle-s=0)"
        missing = (self.idle or {}).get("missing", {})
        return str(missing.get("avg_power_w", "no idle power reading"))

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
