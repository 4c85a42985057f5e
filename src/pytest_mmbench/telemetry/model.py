"""What a telemetry source reports: timestamped per-GPU readings, and its contract.

A field a source cannot read is ``None`` in every reading, and the source says why in
``unsupported`` once, so figures built on it can be missing *with a reason*.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

FIELDS = (
    "power_w",
    "power_instant_w",
    "energy_j",
    "temp_c",
    "mem_used_mib",
    "util_pct",
    "throttle",
)


class TelemetryUnavailable(Exception):
    """The source cannot be used at all (no library, no driver, no GPU, bad URL)."""


class TelemetryReadError(Exception):
    """One reading failed (exporter down, NVML error); the sampler records it and goes on."""


@dataclass(frozen=True)
class GpuReading:
    index: int
    power_w: float | None = None  # the driver's power figure (a 1 s average on Ampere+)
    power_instant_w: float | None = None  # instantaneous power where the driver has it
    energy_j: float | None = None  # cumulative energy counter, joules
    temp_c: float | None = None
    mem_used_mib: float | None = None
    util_pct: float | None = None
    throttle: frozenset[str] = frozenset()

    @property
    def best_power_w(self) -> float | None:
        """Instantaneous power when available: it follows load within the window."""
        return self.power_instant_w if self.power_instant_w is not None else self.power_w


@dataclass(frozen=True)
class Sample:
    t_ns: int  # time.perf_counter_ns() when the reading was taken
    gpus: tuple[GpuReading, ...] = ()
    error: str | None = None


@dataclass
class SourceInfo:
    name: str
    gpus: list[int] = field(default_factory=list)
    gpu_names: list[str] = field(default_factory=list)
    unsupported: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # how a figure was read, if unusual


class Source(Protocol):
    """A telemetry source: opened once, read many times from the sampler thread."""

    info: SourceInfo

    def open(self) -> None:
        """Connect and discover GPUs; raise TelemetryUnavailable with a reason."""

    def read(self, with_energy: bool = True) -> tuple[GpuReading, ...]:
        """One reading per GPU of the endpoint; raise TelemetryReadError on failure.

        ``with_energy=False`` may skip the energy counter where reading it is costly
        (NVML: ~4 ms of CPU per read on an H100 host, against microseconds for the
        rest); the sampler reads it only at window edges.
        """

    def close(self) -> None:
        """Release the library or connection."""
