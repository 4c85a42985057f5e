"""Settings resolved once per run (CLI > environment > ini > default) and validated.

Every bad value becomes a ``pytest.UsageError`` that says which option is wrong and
what to write instead; nothing downstream re-reads options.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

DEFAULT_REPORT = "mmbench-report.json"
DEFAULT_CASE_FILES = ("mm_*.toml",)


@dataclass(frozen=True)
class Settings:
    endpoints_path: Path | None
    rounds: int
    warmup: int
    report_path: Path
    sample_hz: float = 10.0
    idle_s: float = 2.0

    @property
    def uses_default_endpoint(self) -> bool:
        return self.endpoints_path is None


def _pick(config: pytest.Config, option: str, env: str, ini: str) -> str | None:
    cli = config.getoption(option)
    if cli is not None:
        return str(cli)
    if os.environ.get(env):
        return os.environ[env]
    value = config.getini(ini)
    return str(value) if value else None


def _count(config: pytest.Config, option: str, env: str, ini: str, default: int, least: int) -> int:
    text = _pick(config, option, env, ini)
    if text is None:
        return default
    flag = "--" + option.replace("_", "-")
    try:
        value = int(text)
    except ValueError:
        raise pytest.UsageError(
            f"{flag} (or {env} / ini {ini}) must be a whole number, got {text!r}"
        ) from None
    if value < least:
        raise pytest.UsageError(f"{flag} (or {env} / ini {ini}) must be >= {least}, got {value}")
    return value


def _number(
    config: pytest.Config, option: str, env: str, ini: str, default: float, positive: bool
) -> float:
    text = _pick(config, option, env, ini)
    if text is None:
        return default
    flag = "--" + option.replace("_", "-")
    try:
        value = float(text)
    except ValueError:
        raise pytest.UsageError(
            f"{flag} (or {env} / ini {ini}) must be a number, got {text!r}"
        ) from None
    if value < 0 or (positive and value == 0) or value != value:
        least = "> 0" if positive else ">= 0"
        raise pytest.UsageError(f"{flag} (or {env} / ini {ini}) must be {least}, got {text}")
    return value


def resolve(config: pytest.Config) -> Settings:
    endpoints = _pick(config, "mm_endpoints", "MM_BENCH_ENDPOINTS", "mm_endpoints")
    report = _pick(config, "mm_report", "MM_BENCH_REPORT", "mm_report") or DEFAULT_REPORT
    endpoints_path = None
    if endpoints:
        endpoints_path = Path(endpoints)
        if not endpoints_path.is_absolute():
            endpoints_path = Path(config.invocation_params.dir) / endpoints_path
    report_path = Path(report)
    if not report_path.is_absolute():
        report_path = Path(config.invocation_params.dir) / report_path
    return Settings(
        endpoints_path=endpoints_path,
        rounds=_count(config, "mm_rounds", "MM_BENCH_ROUNDS", "mm_rounds", 1, 1),
        warmup=_count(config, "mm_warmup", "MM_BENCH_WARMUP", "mm_warmup", 0, 0),
        report_path=report_path,
        sample_hz=_number(config, "mm_sample_hz", "MM_BENCH_SAMPLE_HZ", "mm_sample_hz", 10.0, True),
        idle_s=_number(config, "mm_idle_s", "MM_BENCH_IDLE_S", "mm_idle_s", 2.0, False),
    )
