"""GPU telemetry: sources (NVML, Prometheus), a background sampler, energy windows.

No pytest imports here: the sampler is usable from scripts (see
``benchmarks/gpu_telemetry_check.py``) as well as from the plugin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_mmbench.telemetry.sampler import EndpointTelemetry
    from pytest_mmbench.telemetry.settings import TelemetryConfig

# Names re-exported from the submodules, loaded on first use (PEP 562): parsing hosts
# needs only ``telemetry.settings``, and the sources pull in httpx and NVML bindings.
_EXPORTS = {
    "GpuReading": "model",
    "Sample": "model",
    "Source": "model",
    "TelemetryReadError": "model",
    "TelemetryUnavailable": "model",
    "NvmlSource": "nvml",
    "PRESETS": "prometheus",
    "PrometheusSource": "prometheus",
    "custom_preset": "prometheus",
    "EndpointTelemetry": "sampler",
    "Sampler": "sampler",
    "TelemetryConfig": "settings",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)


def endpoint_telemetry(
    config: TelemetryConfig,
    base_url: str | None,
    gpus: Sequence[int] | None,
    hz: float,
    idle_s: float,
) -> EndpointTelemetry:
    """The telemetry object for one endpoint, its source chosen from hosts.toml."""
    from pytest_mmbench.telemetry.model import Source
    from pytest_mmbench.telemetry.nvml import NvmlSource
    from pytest_mmbench.telemetry.prometheus import PRESETS, PrometheusSource, custom_preset
    from pytest_mmbench.telemetry.sampler import EndpointTelemetry

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


__all__ = [*_EXPORTS, "endpoint_telemetry"]
