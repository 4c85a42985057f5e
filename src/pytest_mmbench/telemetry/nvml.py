"""Local GPUs through NVML (``nvidia-ml-py``, imported as ``pynvml``, only when used).

Which fields a GPU supports is found once at open: a field that answers
``NotSupported`` (GB10 has no framebuffer memory figure, older GPUs no energy counter
or instantaneous power) is left out of every reading with that reason, and the window
arithmetic falls back or reports it missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

from pytest_mmbench.telemetry.model import (
    GpuReading,
    SourceInfo,
    TelemetryReadError,
    TelemetryUnavailable,
)

INSTALL_HINT = "install nvidia-ml-py (pip install 'pytest-mmbench[gpu]')"


class NvmlSource:
    def __init__(
        self, gpus: Sequence[int] | None = None, nvml: Any = None, meminfo: str = "/proc/meminfo"
    ) -> None:
        self._wanted = list(gpus) if gpus is not None else None
        self._nvml = nvml  # tests inject a fake module; None means import pynvml on open
        self._meminfo = meminfo
        self._handles: list[tuple[int, Any]] = []
        self._readers: dict[str, Callable[[Any], Any]] = {}
        self.info = SourceInfo(name="nvml")

    def open(self) -> None:
        if self._nvml is None:
            try:
                import pynvml
            except ImportError:
                raise TelemetryUnavailable(f"NVML library not installed; {INSTALL_HINT}") from None
            self._nvml = pynvml
        nvml = self._nvml
        try:
            nvml.nvmlInit()
            count = nvml.nvmlDeviceGetCount()
        except nvml.NVMLError as exc:
            raise TelemetryUnavailable(
                f"NVML unavailable (no NVIDIA driver or GPU?): {exc}"
            ) from None
        indices = self._wanted if self._wanted is not None else list(range(count))
        if not indices:
            raise TelemetryUnavailable("NVML sees no GPU on this machine")
        bad = [i for i in indices if not 0 <= i < count]
        if bad:
            raise TelemetryUnavailable(f"gpus {bad} do not exist; NVML sees {count} GPU(s)")
        self._handles = [(i, nvml.nvmlDeviceGetHandleByIndex(i)) for i in indices]
        self.info.gpus = indices
        self.info.gpu_names = [_text(nvml.nvmlDeviceGetName(h)) for _, h in self._handles]
        self._readers = self._probe()

    def _probe(self) -> dict[str, Callable[[Any], Any]]:
        """Keep each reader that works on every GPU; record why the others do not."""
        nvml = self._nvml
        candidates: dict[str, Callable[[Any], Any]] = {
            "power_w": lambda h: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
            "power_instant_w": self._instant_power,
            "energy_j": lambda h: nvml.nvmlDeviceGetTotalEnergyConsumption(h) / 1000.0,
            "temp_c": lambda h: float(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)),
            "mem_used_mib": lambda h: nvml.nvmlDeviceGetMemoryInfo(h).used / 2**20,
            "util_pct": lambda h: float(nvml.nvmlDeviceGetUtilizationRates(h).gpu),
            "throttle": self._throttle,
        }
        working = {}
        for name, reader in candidates.items():
            try:
                for _, handle in self._handles:
                    reader(handle)
            except nvml.NVMLError as exc:
                self.info.unsupported[name] = f"NVML cannot read {name} on this GPU: {exc}"
                continue
            working[name] = reader
        if "mem_used_mib" in self.info.unsupported and self._system_memory_mib() is not None:
            # Unified-memory machines (GB10 / DGX Spark) have no framebuffer figure: the
            # model lives in system memory, so report that, once, and say so.
            reason = self.info.unsupported.pop("mem_used_mib")
            self.info.notes["mem_used_mib"] = (
                f"{reason}; reporting system memory in use (MemTotal - MemAvailable from "
                f"{self._meminfo}) instead, as on unified-memory machines"
            )
            first = self._handles[0][1]
            working["mem_used_mib"] = lambda h: self._system_memory_mib() if h is first else 0.0
        return working

    def _system_memory_mib(self) -> float | None:
        try:
            with open(self._meminfo, encoding="ascii") as handle:
                fields = dict(line.split(":", 1) for line in handle if ":" in line)
            total = int(fields["MemTotal"].split()[0])
            available = int(fields["MemAvailable"].split()[0])
        except (OSError, KeyError, ValueError, IndexError):
            return None
        return (total - available) / 1024

    def _instant_power(self, handle: Any) -> float:
        nvml = self._nvml
        (value,) = nvml.nvmlDeviceGetFieldValues(handle, [nvml.NVML_FI_DEV_POWER_INSTANT])
        if value.nvmlReturn != nvml.NVML_SUCCESS:
            raise nvml.NVMLError(value.nvmlReturn)
        return float(value.value.uiVal) / 1000.0

    def _throttle(self, handle: Any) -> frozenset[str]:
        nvml = self._nvml
        mask = nvml.nvmlDeviceGetCurrentClocksEventReasons(handle)
        return frozenset(name for name, bit in _reason_bits(nvml) if mask & bit)

    def read(self, with_energy: bool = True) -> tuple[GpuReading, ...]:
        nvml = self._nvml
        readers = (
            self._readers
            if with_energy
            else {name: reader for name, reader in self._readers.items() if name != "energy_j"}
        )
        readings = []
        try:
            for index, handle in self._handles:
                values = {name: reader(handle) for name, reader in readers.items()}
                readings.append(GpuReading(index=index, **values))
        except nvml.NVMLError as exc:
            raise TelemetryReadError(f"NVML read failed: {exc}") from None
        return tuple(readings)

    def close(self) -> None:
        if self._nvml is not None and self._handles:
            with contextlib.suppress(self._nvml.NVMLError):
                self._nvml.nvmlShutdown()
        self._handles = []


def _reason_bits(nvml: Any) -> list[tuple[str, int]]:
    names = {
        "gpu_idle": "nvmlClocksEventReasonGpuIdle",
        "sw_power_cap": "nvmlClocksEventReasonSwPowerCap",
        "hw_slowdown": "nvmlClocksEventReasonHwSlowdown",
        "sw_thermal": "nvmlClocksEventReasonSwThermalSlowdown",
        "hw_thermal": "nvmlClocksEventReasonHwThermalSlowdown",
        "hw_power_brake": "nvmlClocksEventReasonHwPowerBrakeSlowdown",
        "sync_boost": "nvmlClocksEventReasonSyncBoost",
        "applications_clocks": "nvmlClocksEventReasonApplicationsClocksSetting",
    }
    return [
        (label, int(getattr(nvml, attr))) for label, attr in names.items() if hasattr(nvml, attr)
    ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
