"""The deployment frontier: per operator regime, the endpoints no other endpoint beats.

Seed 000's main result is not one winner but a frontier per regime (throughput and
modality breadth; tokens per watt, temperature and context; audio).  An endpoint is
dominated when another is at least as good on every axis both have figures for, and
strictly better on one.  An axis an endpoint has no figure for (no telemetry, no audio
case) is excluded for that endpoint, with the reason, instead of guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_mmbench.figures import axis_higher_is_better, endpoint_value, known_axis
from pytest_mmbench.modalities import MARKER_MODALITY

MODALITIES = tuple(dict.fromkeys(MARKER_MODALITY.values()))


@dataclass(frozen=True)
class Regime:
    name: str
    maximize: tuple[str, ...] = ()
    minimize: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    description: str = ""

    @property
    def axes(self) -> tuple[str, ...]:
        return (*self.maximize, *self.minimize)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "maximize": list(self.maximize),
            "minimize": list(self.minimize),
            "needs": list(self.needs),
            "description": self.description,
        }


# Seed 000's three regimes.
DEFAULT_REGIMES = (
    Regime(
        "general-workstation",
        maximize=("tok_s", "modalities"),
        minimize=("latency_ms",),
        description="throughput, modality breadth (video included), latency",
    ),
    Regime(
        "edge-efficiency",
        maximize=("tok_s_per_w", "context_window"),
        minimize=("peak_temp_c",),
        description="tokens per watt, thermal ceiling, long context",
    ),
    Regime(
        "audio-pipeline",
        maximize=("audio.tok_s",),
        minimize=("audio.latency_ms",),
        needs=("audio",),
        description="audio throughput and short answers",
    ),
)


class RegimeError(ValueError):
    """A regime that cannot be evaluated; the message names the bad key."""


def parse_regime(name: str, table: Any) -> Regime:
    if not isinstance(table, dict):
        raise RegimeError("must be a table with maximize / minimize / needs lists")
    unknown = sorted(set(table) - {"maximize", "minimize", "needs", "description"})
    if unknown:
        raise RegimeError(
            f"key {unknown[0]!r}: unknown; use maximize, minimize, needs, description"
        )
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("maximize", "minimize", "needs"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RegimeError(f"key {key!r}: must be a list of names")
        lists[key] = tuple(value)
    for key in ("maximize", "minimize"):
        for axis in lists[key]:
            if not known_axis(axis):
                raise RegimeError(
                    f"key {key!r}: unknown figure {axis!r}; use an endpoint figure "
                    "(tok_s, tok_s_per_w, peak_temp_c, context_window, ...) or "
                    "<modality>.<case figure> such as audio.tok_s"
                )
    if not lists["maximize"] and not lists["minimize"]:
        raise RegimeError("key 'maximize': give at least one figure to maximize or minimize")
    bad = [m for m in lists["needs"] if m not in MODALITIES]
    if bad:
        raise RegimeError(f"key 'needs': unknown modality {bad[0]!r}; use {', '.join(MODALITIES)}")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise RegimeError("key 'description': must be a string")
    return Regime(name, lists["maximize"], lists["minimize"], lists["needs"], description)


@dataclass
class RegimeResult:
    regime: dict[str, Any]
    frontier: list[str]
    dominated: dict[str, list[str]]  # endpoint -> the endpoints that dominate it
    not_eligible: dict[str, str]  # endpoint -> why (lacks a needed modality)
    excluded_axes: dict[str, dict[str, str]]  # endpoint -> axis -> reason
    values: dict[str, dict[str, float]] = field(default_factory=dict)
    # Why no frontier was drawn: fewer than two eligible endpoints, or no axis measured
    # on two of them.  A frontier of one is no comparison and names no winner.
    undecided: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def frontier(document: Mapping[str, Any], regimes: Sequence[Regime]) -> list[RegimeResult]:
    return [_one(document, regime) for regime in regimes]


def _one(document: Mapping[str, Any], regime: Regime) -> RegimeResult:
    result = RegimeResult(regime.to_dict(), [], {}, {}, {})
    eligible = []
    for endpoint in document["endpoints"]:
        lacking = [m for m in regime.needs if m not in (endpoint.get("modalities") or [])]
        if lacking:
            result.not_eligible[endpoint["id"]] = f"does not accept {', '.join(lacking)}"
            continue
        values: dict[str, float] = {}
        missing: dict[str, str] = {}
        for axis in regime.axes:
            marker, _, name = axis.rpartition(".")
            value, reason = endpoint_value(document, endpoint["id"], name, marker or None)
            if value is None:
                missing[axis] = reason or "missing"
            else:
                values[axis] = value
        if not _measured_anything(document, endpoint["id"]):
            # Only what hosts.toml declares is known: an endpoint whose server never
            # started would otherwise tie on modalities and sit on the frontier.
            result.not_eligible[endpoint["id"]] = (
                "nothing measured in this run (no case or load point produced a figure)"
            )
            continue
        eligible.append(endpoint["id"])
        if missing:
            result.excluded_axes[endpoint["id"]] = missing
        result.values[endpoint["id"]] = values
    result.undecided = _undecided(eligible, result.values, regime)
    if result.undecided:
        return result
    for candidate in eligible:
        beaten_by = [
            other
            for other in eligible
            if other != candidate
            and _dominates(result.values[other], result.values[candidate], regime)
        ]
        if beaten_by:
            result.dominated[candidate] = beaten_by
        else:
            result.frontier.append(candidate)
    return result


def _measured_anything(document: Mapping[str, Any], endpoint_id: str) -> bool:
    summary = document["summary"].get(endpoint_id) or {}
    if summary.get("mean_e2e_ms") is not None or summary.get("mean_output_tok_s") is not None:
        return True
    rows = (document.get("load") or {}).get(endpoint_id) or []
    return any(row.get("completed") for row in rows)


def _undecided(
    eligible: Sequence[str], values: Mapping[str, Mapping[str, float]], regime: Regime
) -> str | None:
    if len(eligible) < 2:
        who = f"only {eligible[0]}" if eligible else "none"
        return f"fewer than two eligible endpoints ({who}): nothing to compare"
    compared = [a for a in regime.axes if sum(a in values[e] for e in eligible) >= 2]
    if not compared:
        return "no axis was measured on two eligible endpoints: nothing to compare"
    return None


def _dominates(a: Mapping[str, float], b: Mapping[str, float], regime: Regime) -> bool:
    shared = [axis for axis in regime.axes if axis in a and axis in b]
    if not shared:
        return False
    strictly_better = False
    for axis in shared:
        better = a[axis] - b[axis] if axis_higher_is_better(axis) else b[axis] - a[axis]
        if better < 0:
            return False
        strictly_better = strictly_better or better > 0
    return strictly_better


def render(results: Sequence[RegimeResult]) -> list[str]:
    lines = []
    for result in results:
        regime = result.regime
        axes = [f"max {a}" for a in regime["maximize"]] + [f"min {a}" for a in regime["minimize"]]
        verdict = (
            f"no frontier: {result.undecided}"
            if result.undecided
            else f"frontier = {', '.join(result.frontier) or 'none'}"
        )
        lines.append(f"{regime['name']} ({', '.join(axes)}): {verdict}")
        for endpoint, winners in result.dominated.items():
            lines.append(f"  {endpoint} is dominated by {', '.join(winners)}")
        for endpoint, reason in result.not_eligible.items():
            lines.append(f"  {endpoint} not eligible: {reason}")
        for endpoint, axes_missing in result.excluded_axes.items():
            for axis, reason in axes_missing.items():
                lines.append(f"  {endpoint}: {axis} excluded ({reason})")
    return lines
