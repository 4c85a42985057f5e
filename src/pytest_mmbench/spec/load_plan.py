"""What a load point sends and how: parsed from a case's ``[case.load]`` table and the CLI.

Command-line options (``--mm-concurrency``, ``--mm-rate``, ``--mm-requests``,
``--mm-duration``) override a case's own values, so one shipped load case serves any
sweep.  Every point becomes its own test id (``...[gemma-3090-c32]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

SLO_KEYS = ("ttft_ms", "tpot_ms", "e2e_ms")


class PlanError(ValueError):
    """A load setting that cannot be used; the message names the key."""


@dataclass(frozen=True)
class LoadPoint:
    """One point: a closed loop at ``concurrency`` or an open loop at ``rate`` req/s."""

    concurrency: int | None = 1
    rate: float | None = None  # requests/s, Poisson arrivals (open loop)
    burstiness: float = 1.0  # gamma shape of inter-arrival times; 1 = Poisson
    max_concurrency: int | None = None  # open loop: cap on requests in flight
    requests: int = 16
    duration_s: float | None = None  # stop issuing after this long (with requests as a cap)
    input_tokens: int = 128
    output_tokens: int = 64
    ignore_eos: bool = True
    prefix_reuse: bool = False  # send one identical prompt (to measure prefix caching)
    processes: int = 1
    seed: int = 1234
    image_size: int | None = None  # add images of this many px per side (seed 001: 256, 512)
    images: int = 1  # images per request (seed 003 sends two)
    slo: Mapping[str, float] = field(default_factory=dict)

    @property
    def label(self) -> str:
        base = f"r{self.rate:g}" if self.rate is not None else f"c{self.concurrency}"
        return f"{base}-img{self.image_size}" if self.image_size else base

    def describe(self) -> dict[str, Any]:
        return {
            "point": self.label,
            "mode": "open" if self.rate is not None else "closed",
            "concurrency": self.concurrency,
            "rate": self.rate,
            "burstiness": self.burstiness,
            "max_concurrency": self.max_concurrency,
            "requests": self.requests,
            "duration_s": self.duration_s,
            "target_input_tokens": self.input_tokens,
            "target_output_tokens": self.output_tokens,
            "ignore_eos": self.ignore_eos,
            "processes": self.processes,
            "image_size": self.image_size,
            "images_per_request": self.images if self.image_size else 0,
            "warmup": "1 unrecorded one-token request per client process",
            "slo": dict(self.slo),
            "cache_hygiene": (
                "prefix reuse requested: every request sends the same prompt"
                if self.prefix_reuse
                else "unique prefix per request, so prefix caches cannot serve them"
            ),
        }


@dataclass(frozen=True)
class Overrides:
    """Load settings given on the command line; None means "use the case's"."""

    concurrency: tuple[int, ...] | None = None
    rate: tuple[float, ...] | None = None
    requests: int | None = None
    duration_s: float | None = None
    slo: Mapping[str, float] | None = None
    processes: int | None = None


_KEYS = {
    "concurrency",
    "rate",
    "burstiness",
    "max_concurrency",
    "requests",
    "duration_s",
    "input_tokens",
    "output_tokens",
    "ignore_eos",
    "prefix_reuse",
    "processes",
    "seed",
    "slo",
    "image_size",
    "images",
}


def parse_load_table(table: Any) -> LoadPoint:
    """Validate ``[case.load]``; ``concurrency``/``rate`` may be lists (one point each)."""
    if not isinstance(table, dict):
        raise PlanError("load must be a table, e.g. { concurrency = [1, 8], requests = 32 }")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise PlanError(f"load.{unknown[0]}: unknown key; use {', '.join(sorted(_KEYS))}")
    base = LoadPoint()
    values: dict[str, Any] = {}
    for key in (
        "requests",
        "input_tokens",
        "output_tokens",
        "processes",
        "max_concurrency",
        "seed",
        "images",
    ):
        if key in table:
            values[key] = _positive_int(table[key], f"load.{key}")
    for key in ("duration_s", "burstiness"):
        if key in table:
            values[key] = _positive_float(table[key], f"load.{key}")
    for key in ("ignore_eos", "prefix_reuse"):
        if key in table:
            if not isinstance(table[key], bool):
                raise PlanError(f"load.{key}: must be true or false")
            values[key] = table[key]
    if "slo" in table:
        values["slo"] = parse_slo_table(table["slo"])
    if "image_size" in table:  # one size, or a list: one point per size (a sweep)
        values["image_size"] = _int_list(table["image_size"], "load.image_size")[0]
    return replace(base, **values)


def load_points(table: Any, overrides: Overrides) -> list[LoadPoint]:
    """The points of one load case: one per concurrency (closed) or rate (open)."""
    base = parse_load_table(table)
    concurrency = overrides.concurrency
    if concurrency is None and "concurrency" in table:
        concurrency = tuple(_int_list(table["concurrency"], "load.concurrency"))
    rates = overrides.rate
    if rates is None and "rate" in table:
        rates = tuple(_float_list(table["rate"], "load.rate"))
    common = replace(
        base,
        requests=overrides.requests or base.requests,
        duration_s=overrides.duration_s if overrides.duration_s is not None else base.duration_s,
        slo=overrides.slo if overrides.slo is not None else base.slo,
        processes=overrides.processes or base.processes,
    )
    sizes: tuple[int | None, ...] = (None,)
    if "image_size" in table:
        sizes = tuple(_int_list(table["image_size"], "load.image_size"))
    if rates:
        return [
            replace(common, rate=r, concurrency=None, image_size=s) for r in rates for s in sizes
        ]
    return [
        replace(common, concurrency=c, image_size=s) for c in (concurrency or (1,)) for s in sizes
    ]


def parse_concurrency(text: str) -> tuple[int, ...]:
    return tuple(_int_list([p.strip() for p in text.split(",") if p.strip()], "--mm-concurrency"))


def parse_rates(text: str) -> tuple[float, ...]:
    return tuple(_float_list([p.strip() for p in text.split(",") if p.strip()], "--mm-rate"))


def parse_slo(text: str) -> dict[str, float]:
    """``"ttft_ms:200,tpot_ms:50"`` -> {"ttft_ms": 200, "tpot_ms": 50}."""
    table: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition(":")
        if not sep:
            raise PlanError(f"--mm-slo: cannot read {part!r}; write e.g. ttft_ms:200,tpot_ms:50")
        table[key.strip()] = value.strip()
    try:
        return parse_slo_table(table)
    except PlanError as exc:
        raise PlanError(f"--mm-slo: {exc}") from None


def parse_slo_table(table: Any) -> dict[str, float]:
    if not isinstance(table, dict) or not table:
        raise PlanError("slo must name at least one of ttft_ms, tpot_ms, e2e_ms")
    slo = {}
    for key, value in table.items():
        if key not in SLO_KEYS:
            raise PlanError(f"slo: unknown figure {key!r}; use {', '.join(SLO_KEYS)}")
        slo[key] = _positive_float(value, f"slo.{key}")
    return slo


def _positive_int(value: Any, where: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PlanError(f"{where}: must be a whole number, got {value!r}") from None
    if isinstance(value, bool) or number <= 0 or (isinstance(value, float) and value != number):
        raise PlanError(f"{where}: must be a whole number > 0, got {value!r}")
    return number


def _positive_float(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PlanError(f"{where}: must be a number, got {value!r}") from None
    if isinstance(value, bool) or not number > 0:
        raise PlanError(f"{where}: must be a number > 0, got {value!r}")
    return number


def _int_list(value: Any, where: str) -> list[int]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PlanError(f"{where}: give at least one value")
    return [_positive_int(v, where) for v in items]


def _float_list(value: Any, where: str) -> list[float]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise PlanError(f"{where}: give at least one value")
    return [_positive_float(v, where) for v in items]
