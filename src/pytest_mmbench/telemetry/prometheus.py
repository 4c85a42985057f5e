"""GPUs on another host, read from a Prometheus text endpoint (dcgm-exporter and others).

The benchmark client rarely runs where the GPUs are, so the GPU host's exporter is
scraped instead of NVML.  Parsing is prometheus-client's own text parser; presets
name the metrics and units of NVIDIA's dcgm-exporter and of nvidia_gpu_exporter, and
custom names and scales can be given per endpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # hosts parsing reads PRESETS here; the client loads with a source
    import httpx

from pytest_mmbench.telemetry.model import (
    FIELDS,
    GpuReading,
    SourceInfo,
    TelemetryReadError,
    TelemetryUnavailable,
)


@dataclass(frozen=True)
class Preset:
    metrics: Mapping[str, str]  # our field -> metric name
    scale: Mapping[str, float] = field(default_factory=dict)  # multiply to get our unit
    gpu_label: str = "gpu"
    index_metric: str | None = None  # metric whose value is the GPU index, keyed by gpu_label


PRESETS: dict[str, Preset] = {
    # NVIDIA dcgm-exporter: power W, energy mJ since boot, memory MiB, utilisation %.
    "dcgm": Preset(
        metrics={
            "power_w": "DCGM_FI_DEV_POWER_USAGE",
            "power_instant_w": "DCGM_FI_DEV_POWER_USAGE_INSTANT",
            "energy_j": "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
            "temp_c": "DCGM_FI_DEV_GPU_TEMP",
            "mem_used_mib": "DCGM_FI_DEV_FB_USED",
            "util_pct": "DCGM_FI_DEV_GPU_UTIL",
        },
        scale={"energy_j": 0.001},
    ),
    # utkuozdemir/nvidia_gpu_exporter (nvidia-smi based): no energy counter.
    "nvidia_gpu_exporter": Preset(
        metrics={
            "power_w": "nvidia_smi_power_draw_watts",
            "temp_c": "nvidia_smi_temperature_gpu",
            "mem_used_mib": "nvidia_smi_memory_used_bytes",
            "util_pct": "nvidia_smi_utilization_gpu_ratio",
        },
        scale={"mem_used_mib": 1 / 2**20, "util_pct": 100.0},
        gpu_label="uuid",
        index_metric="nvidia_smi_index",
    ),
}
NUMERIC_FIELDS = tuple(f for f in FIELDS if f != "throttle")


class PrometheusSource:
    def __init__(
        self,
        url: str,
        preset: Preset,
        gpus: Sequence[int] | None = None,
        timeout_s: float = 2.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url
        self.preset = preset
        self._wanted = list(gpus) if gpus is not None else None
        import httpx

        self._client = client or httpx.Client(timeout=timeout_s)
        self.info = SourceInfo(name="prometheus")

    def open(self) -> None:
        try:
            values = self._scrape()
        except TelemetryReadError as exc:
            raise TelemetryUnavailable(str(exc)) from None
        found = sorted({index for per_gpu in values.values() for index in per_gpu})
        if not found:
            raise TelemetryUnavailable(
                f"{self.url} exposes none of the metrics {sorted(self.preset.metrics.values())}"
            )
        indices = self._wanted if self._wanted is not None else found
        absent = [i for i in indices if i not in found]
        if absent:
            raise TelemetryUnavailable(f"gpus {absent} not found at {self.url} (it has {found})")
        self.info.gpus = indices
        self.info.gpu_names = [f"gpu {i} at {self.url}" for i in indices]
        for name in NUMERIC_FIELDS:
            metric = self.preset.metrics.get(name)
            if metric is None:
                self.info.unsupported[name] = f"the exporter preset has no metric for {name}"
            elif not values.get(name):
                self.info.unsupported[name] = f"metric {metric} not found at {self.url}"
        self.info.unsupported["throttle"] = "throttle reasons are read through NVML only"

    def read(self, with_energy: bool = True) -> tuple[GpuReading, ...]:
        values = self._scrape()  # one scrape returns every figure: energy costs nothing more

        def value(name: str, index: int) -> float | None:
            return values.get(name, {}).get(index)

        return tuple(
            GpuReading(
                index=i,
                power_w=value("power_w", i),
                power_instant_w=value("power_instant_w", i),
                energy_j=value("energy_j", i),
                temp_c=value("temp_c", i),
                mem_used_mib=value("mem_used_mib", i),
                util_pct=value("util_pct", i),
            )
            for i in self.info.gpus
        )

    def _scrape(self) -> dict[str, dict[int, float]]:
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        try:
            response = self._client.get(self.url)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TelemetryReadError(f"scrape of {self.url} failed: {exc}") from None
        wanted = {metric: name for name, metric in self.preset.metrics.items()}
        raw: dict[str, dict[str, float]] = {}
        index_of: dict[str, int] = {}
        try:
            for family in text_string_to_metric_families(self._relevant(response.text)):
                for sample in family.samples:
                    label = sample.labels.get(self.preset.gpu_label)
                    if label is None:
                        continue
                    # The parser reports a counter's samples as NAME_total even when the
                    # exporter wrote NAME (dcgm-exporter's energy counter), so accept both.
                    metric = sample.name
                    if metric not in wanted and metric.endswith("_total"):
                        metric = metric.removesuffix("_total")
                    if metric == self.preset.index_metric:
                        index_of[label] = int(sample.value)
                    elif metric in wanted:
                        name = wanted[metric]
                        scale = self.preset.scale.get(name, 1.0)
                        raw.setdefault(name, {})[label] = sample.value * scale
        except ValueError as exc:
            raise TelemetryReadError(f"{self.url} is not Prometheus text: {exc}") from None
        return {
            name: {_index(label, index_of): v for label, v in per.items()}
            for name, per in raw.items()
        }

    def _relevant(self, text: str) -> str:
        """Only the lines of the metrics we read, for the parser to parse.

        A dcgm-exporter page has dozens of metrics per GPU; parsing all of it cost
        6.8 ms per scrape here (7 % of a core at 10 Hz), the selected lines a fraction.
        """
        names = {*self.preset.metrics.values()}
        if self.preset.index_metric:
            names.add(self.preset.index_metric)
        prefixes = tuple(names)
        kept = []
        for line in text.splitlines():
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 3 and parts[2] in names:
                    kept.append(line)
            elif line.startswith(prefixes):
                kept.append(line)
        return "\n".join(kept) + "\n"

    def close(self) -> None:
        self._client.close()


def _index(label: str, index_of: Mapping[str, int]) -> int:
    if label in index_of:
        return index_of[label]
    try:
        return int(label)
    except ValueError:
        raise TelemetryReadError(
            f"GPU label {label!r} is not an index and has no index metric"
        ) from None


def custom_preset(
    base: Preset | None, metrics: Mapping[str, Any], scale: Mapping[str, Any], gpu_label: str | None
) -> Preset:
    """A preset with some metric names, scales or the GPU label replaced."""
    base = base or Preset(metrics={})
    return Preset(
        metrics={**base.metrics, **metrics},
        scale={**base.scale, **{k: float(v) for k, v in scale.items()}},
        gpu_label=gpu_label or base.gpu_label,
        index_metric=base.index_metric,
    )
