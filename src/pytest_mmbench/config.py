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


def _pick(config: pytest.Config, name: str) -> str | None:
    """A setting by its stem: ``--mm-<name>``, else ``MM_BENCH_<NAME>``, else ini ``mm_<name>``."""
    cli = config.getoption(f"mm_{name}")
    if cli is not None:
        return str(cli)
    env = f"MM_BENCH_{name.upper()}"
    if os.environ.get(env):
        return os.environ[env]
    value = config.getini(f"mm_{name}")
    return str(value) if value else None


def _numeric(
    config: pytest.Config, name: str, default: float, *, whole: bool, least: float, strict: bool
) -> float:
    """A number setting; ``strict`` means it must be greater than ``least``, not equal."""
    text = _pick(config, name)
    if text is None:
        return default
    where = f"--mm-{name.replace('_', '-')} (or MM_BENCH_{name.upper()} / ini mm_{name})"
    try:
        value = int(text) if whole else float(text)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise pytest.UsageError(f"{where} must be {kind}, got {text!r}") from None
    if value != value or value < least or (strict and value == least):
        bound = f"> {least:g}" if strict else f">= {least:g}"
        raise pytest.UsageError(f"{where} must be {bound}, got {text}")
    return value


def resolve(config: pytest.Config) -> Settings:
    endpoints = _pick(config, "endpoints")
    report = _pick(config, "report") or DEFAULT_REPORT
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
        rounds=int(_numeric(config, "rounds", 1, whole=True, least=1, strict=False)),
        warmup=int(_numeric(config, "warmup", 0, whole=True, least=0, strict=False)),
        report_path=report_path,
        sample_hz=_numeric(config, "sample_hz", 10.0, whole=False, least=0, strict=True),
        idle_s=_numeric(config, "idle_s", 2.0, whole=False, least=0, strict=False),
    )
