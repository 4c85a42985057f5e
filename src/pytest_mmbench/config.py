"""Settings resolved once per run (CLI > environment > ini > default) and validated.

Every bad value becomes a ``pytest.UsageError`` that says which option is wrong and
what to write instead; nothing downstream re-reads options.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pytest_mmbench.decide.bands import BandRule, parse_bands
from pytest_mmbench.decide.gate import (
    DEFAULT_FAIL_ON,
    Requirement,
    Rule,
    RuleError,
    parse_requirements,
    parse_rules,
)
from pytest_mmbench.options import DEFAULT_REPORT
from pytest_mmbench.spec.client_hosts import ClientSpec, parse_client_specs
from pytest_mmbench.spec.load_plan import (
    Overrides,
    PlanError,
    parse_concurrency,
    parse_rates,
    parse_slo,
)


@dataclass(frozen=True)
class Settings:
    endpoints_path: Path | None
    rounds: int
    warmup: int
    report_path: Path
    sample_hz: float = 10.0
    idle_s: float = 2.0
    baseline_path: Path | None = None
    fail_on: tuple[Rule, ...] = ()
    require: tuple[Requirement, ...] = ()
    bands: tuple[BandRule, ...] = ()
    html_path: Path | None = None
    plots_dir: Path | None = None
    load: Overrides = field(default_factory=Overrides)
    probe: bool = True
    run_id: str | None = None  # tags every prompt; a fixed one reproduces a run's prompts
    clients: tuple[ClientSpec, ...] = ()  # load client hosts (--mm-clients)

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


def _load_overrides(config: pytest.Config) -> Overrides:
    """--mm-concurrency / --mm-rate / --mm-requests / --mm-duration / --mm-slo / --mm-processes."""
    concurrency, rate, slo = (
        _pick(config, "concurrency"),
        _pick(config, "rate"),
        _pick(config, "slo"),
    )
    if concurrency and rate:
        raise pytest.UsageError(
            "--mm-concurrency (closed loop) and --mm-rate (open loop) exclude each other; give one"
        )
    try:
        return Overrides(
            concurrency=parse_concurrency(concurrency) if concurrency else None,
            rate=parse_rates(rate) if rate else None,
            requests=int(_numeric(config, "requests", 0, whole=True, least=0, strict=True))
            if _pick(config, "requests")
            else None,
            duration_s=_numeric(config, "duration", 0, whole=False, least=0, strict=True)
            if _pick(config, "duration")
            else None,
            slo=parse_slo(slo) if slo else None,
            processes=int(_numeric(config, "processes", 1, whole=True, least=1, strict=False)),
        )
    except PlanError as exc:
        raise pytest.UsageError(str(exc)) from None


def _path(config: pytest.Config, text: str) -> Path:
    path = Path(text)
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


def _clients(config: pytest.Config) -> tuple[ClientSpec, ...]:
    text = _pick(config, "clients")
    if not text:
        return ()
    try:
        specs = tuple(parse_client_specs(text))
    except ValueError as exc:
        raise pytest.UsageError(f"--mm-clients: {exc}") from None
    if getattr(config.option, "numprocesses", None) or getattr(config.option, "tx", None):
        raise pytest.UsageError(
            "--mm-clients runs load points from this process's client hosts; "
            "run without -n / --tx (pytest-xdist) or leave --mm-clients out"
        )
    if _pick(config, "processes"):
        raise pytest.UsageError(
            "--mm-processes spreads a point over this machine; with --mm-clients give the "
            'processes per host in the spec instead, e.g. "4*ssh=me@box"'
        )
    return specs


def _probe(config: pytest.Config) -> bool:
    text = (_pick(config, "probe") or "on").strip().lower()
    if text not in ("on", "off"):
        raise pytest.UsageError(
            f"--mm-probe (or MM_BENCH_PROBE / ini mm_probe) must be on or off, got {text!r}"
        )
    return text == "on"


def _run_id(config: pytest.Config) -> str | None:
    text = _pick(config, "run_id")
    if text is not None and not re.fullmatch(r"[A-Za-z0-9_.]{1,32}", text):
        raise pytest.UsageError(
            f"--mm-run-id (or MM_BENCH_RUN_ID / ini mm_run_id) must be 1-32 letters, digits, "
            f"'_' or '.', got {text!r}"
        )
    return text


def resolve(config: pytest.Config) -> Settings:
    endpoints = _pick(config, "endpoints")
    report = _pick(config, "report") or DEFAULT_REPORT
    endpoints_path = _path(config, endpoints) if endpoints else None
    report_path = _path(config, report)
    baseline = _pick(config, "baseline")
    fail_on_text = _pick(config, "fail_on")
    if fail_on_text and not baseline:
        raise pytest.UsageError("--mm-fail-on needs --mm-baseline=PATH (an earlier report)")
    try:
        fail_on = parse_rules(fail_on_text or DEFAULT_FAIL_ON) if baseline else []
    except RuleError as exc:
        raise pytest.UsageError(f"--mm-fail-on: {exc}") from None
    try:
        require = parse_requirements(_pick(config, "require") or "")
    except RuleError as exc:
        raise pytest.UsageError(f"--mm-require: {exc}") from None
    try:
        bands = parse_bands(_pick(config, "bands") or "")
    except RuleError as exc:
        raise pytest.UsageError(f"--mm-bands: {exc}") from None
    html, plots = _pick(config, "html"), _pick(config, "plots")
    return Settings(
        load=_load_overrides(config),
        baseline_path=_path(config, baseline) if baseline else None,
        fail_on=tuple(fail_on),
        require=tuple(require),
        bands=tuple(bands),
        html_path=_path(config, html) if html else None,
        plots_dir=_path(config, plots) if plots else None,
        endpoints_path=endpoints_path,
        rounds=int(_numeric(config, "rounds", 1, whole=True, least=1, strict=False)),
        warmup=int(_numeric(config, "warmup", 0, whole=True, least=0, strict=False)),
        report_path=report_path,
        sample_hz=_numeric(config, "sample_hz", 10.0, whole=False, least=0, strict=True),
        idle_s=_numeric(config, "idle_s", 2.0, whole=False, least=0, strict=False),
        probe=_probe(config),
        run_id=_run_id(config),
        clients=_clients(config),
    )
