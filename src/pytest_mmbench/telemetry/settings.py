"""The ``telemetry`` and ``gpus`` keys of an endpoint in hosts.toml, validated.

``source = "auto"`` (the default) samples local GPUs through NVML only for endpoints
served on this machine (embedded, or a loopback ``base_url``); for a remote server NVML
would measure the wrong GPUs, so it reports telemetry as not configured instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from pytest_mmbench.telemetry.model import FIELDS
from pytest_mmbench.telemetry.prometheus import PRESETS

SOURCES = ("auto", "nvml", "prometheus", "none")
_KEYS = ("source", "url", "preset", "metrics", "scale", "gpu_label")
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

Fail = Callable[[str, str], Exception]


@dataclass(frozen=True)
class TelemetryConfig:
    source: str = "auto"
    url: str | None = None
    preset: str | None = None
    metrics: dict[str, str] = field(default_factory=dict)
    scale: dict[str, float] = field(default_factory=dict)
    gpu_label: str | None = None

    def resolved_source(self, base_url: str | None) -> tuple[str, str | None]:
        """The source to use and, for "none", why there is no telemetry."""
        if self.source != "auto":
            reason = 'telemetry disabled in hosts.toml (source = "none")'
            return self.source, reason if self.source == "none" else None
        host = urlparse(base_url).hostname if base_url else "127.0.0.1"
        if host in LOOPBACK or (host or "").startswith("127."):
            return "nvml", None
        return "none", (
            f"remote endpoint ({host}): NVML here would measure the wrong GPUs; set "
            'telemetry = { source = "prometheus", url = "http://HOST:9400/metrics" }'
        )

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "url": self.url, "preset": self.preset}


def parse_telemetry(value: Any, fail: Fail) -> TelemetryConfig:
    if not isinstance(value, dict):
        raise fail("telemetry", 'must be a table, e.g. { source = "nvml" }')
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise fail(f"telemetry.{unknown[0]}", f"unknown key; allowed keys are {', '.join(_KEYS)}")
    source = value.get("source", "auto")
    if source not in SOURCES:
        raise fail("telemetry.source", f"must be one of {', '.join(SOURCES)}, got {source!r}")
    url = value.get("url")
    if source == "prometheus":
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise fail(
                "telemetry.url",
                'prometheus needs the exporter URL, e.g. "http://gpu-host:9400/metrics"',
            )
    elif url is not None:
        raise fail("telemetry.url", f'only used with source = "prometheus", not {source!r}')
    preset = value.get("preset")
    if preset is not None and preset not in PRESETS:
        raise fail("telemetry.preset", f"unknown preset {preset!r}; use {', '.join(PRESETS)}")
    metrics = value.get("metrics", {})
    numeric = [f for f in FIELDS if f != "throttle"]
    if not isinstance(metrics, dict) or not all(isinstance(v, str) for v in metrics.values()):
        raise fail(
            "telemetry.metrics",
            'must be a table of metric names, e.g. { power_w = "my_gpu_power_watts" }',
        )
    scale = value.get("scale", {})
    if not isinstance(scale, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale.values()
    ):
        raise fail("telemetry.scale", "must be a table of numbers, e.g. { energy_j = 0.001 }")
    for key, table in (("metrics", metrics), ("scale", scale)):
        bad = sorted(set(table) - set(numeric))
        if bad:
            raise fail(f"telemetry.{key}.{bad[0]}", f"unknown figure; use {', '.join(numeric)}")
    if source == "prometheus" and preset is None and not metrics:
        preset = "dcgm"
    label = value.get("gpu_label")
    if label is not None and not isinstance(label, str):
        raise fail("telemetry.gpu_label", "must be a string (the label holding the GPU index)")
    return TelemetryConfig(
        source=source,
        url=url,
        preset=preset,
        metrics=dict(metrics),
        scale={k: float(v) for k, v in scale.items()},
        gpu_label=label,
    )


def parse_gpus(value: Any, fail: Fail) -> tuple[int, ...]:
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
        or len(set(value)) != len(value)
    ):
        raise fail("gpus", f"must be a list of distinct GPU indices such as [0, 1], got {value!r}")
    return tuple(value)
