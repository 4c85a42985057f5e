"""GPU telemetry: sources (NVML, Prometheus), a background sampler, energy windows.

No pytest imports here: the sampler is usable from scripts (see
``benchmarks/gpu_telemetry_check.py``) as well as from the plugin.
"""

from __future__ import annotations

from collections.abc import Sequence

from pytest_mmbench.telemetry.model import (
    GpuReading,
    Sample,
    Source,
    TelemetryReadError,
    TelemetryUnavailable,
)
from pytest_mmbench.telemetry.nvml import NvmlSource
from pytest_mmbench.telemetry.prometheus import PRESETS, PrometheusSource, custom_preset
from pytest_mmbench.telemetry.sampler import EndpointTelemetry, Sampler
from pytest_mmbench.telemetry.settings import TelemetryConfig


def endpoint_telemetry(
    config: TelemetryConfig,
    base_url: str | None,
    gpus: Sequence[int] | None,
    hz: float,
    idle_s: float,
) -> EndpointTelemetry:
    """The telemetry object for one endpoint, its source chosen from hosts.toml."""
    source_name, reason = config.resolved_source(base_url)
    source: Source | None = None
    if source_name == "nvml":
        source = NvmlSource(gpus)
    elif source_name == "prometheus":
        assert config.url is not None, "validated: prometheus needs a url"
        base = PRESETS.get(config.preset) if config.preset else None
        preset = custom_preset(base, config.metrics, config.scale, config.gpu_label)
        source = PrometheusSource(config.url, preset, gpus)
    return EndpointTelemetry(source, hz, idle_s, reason or "")


__all__ = [
    "EndpointTelemetry",
    "GpuReading",
    "NvmlSource",
    "PrometheusSource",
    "Sample",
    "Sampler",
    "Source",
    "TelemetryConfig",
    "TelemetryReadError",
    "TelemetryUnavailable",
    "endpoint_telemetry",
]
