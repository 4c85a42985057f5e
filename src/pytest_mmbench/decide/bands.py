"""Verdict bands: a named verdict per range of a figure, as seed 002's framework wrote them.

Seed 002 judged candidates with ranges, not just thresholds: "6.9 tok/s (5-15 range):
WAIT", "48.2 (≥40): SWAP".  ``--mm-bands`` writes that as one line per figure::

    tok_s: >=40 SWAP, 25..40 WAIT, else NO; ttft_ms: <=200 OK, else SLOW

Bands are read left to right and the first that holds names the verdict (``a..b``
includes a and excludes b).  They inform and never fail a run: pass/fail belongs to
``--mm-require``.  A missing figure gives no verdict, with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pytest_mmbench.decide.gate import RuleError
from pytest_mmbench.figures import endpoint_value, known_axis

_NUMBER = r"-?\d+(?:\.\d+)?"
_BAND = re.compile(
    rf"^\s*(?:(?P<op>>=|<=|>|<)\s*(?P<bound>{_NUMBER})|(?P<low>{_NUMBER})\s*\.\.\s*"
    rf"(?P<high>{_NUMBER})|(?P<other>else))\s+(?P<verdict>[A-Za-z][\w-]*)\s*$"
)


@dataclass(frozen=True)
class Band:
    text: str  # as written, e.g. "25..40"
    verdict: str
    low: float | None = None  # inclusive
    high: float | None = None  # exclusive, or inclusive for <=
    op: str | None = None

    def holds(self, value: float) -> bool:
        if self.op is None:
            if self.low is None:
                return True  # else
            assert self.high is not None
            return self.low <= value < self.high
        assert self.low is not None
        return {
            ">=": value >= self.low,
            "<=": value <= self.low,
            ">": value > self.low,
            "<": value < self.low,
        }[self.op]


@dataclass(frozen=True)
class BandRule:
    figure: str
    bands: tuple[Band, ...]


def parse_bands(text: str) -> list[BandRule]:
    rules = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        figure, sep, rest = part.partition(":")
        figure = figure.strip()
        if not sep or not known_axis(figure):
            raise RuleError(
                f"cannot read bands {part!r}; write figure: >=40 SWAP, 25..40 WAIT, else NO "
                "(figure: an endpoint figure such as tok_s, ttft_ms, mem_gb, tools)"
            )
        bands = []
        for item in filter(None, (b.strip() for b in rest.split(","))):
            match = _BAND.match(item)
            if not match:
                raise RuleError(
                    f"bands for {figure}: cannot read {item!r}; write >=N NAME, <=N NAME, "
                    "A..B NAME or else NAME"
                )
            if match["other"]:
                bands.append(Band("else", match["verdict"]))
            elif match["op"]:
                bound = float(match["bound"])
                bands.append(
                    Band(f"{match['op']}{match['bound']}", match["verdict"], bound, op=match["op"])
                )
            else:
                low, high = float(match["low"]), float(match["high"])
                if low >= high:
                    raise RuleError(f"bands for {figure}: {item!r} needs low < high")
                bands.append(Band(f"{match['low']}..{match['high']}", match["verdict"], low, high))
        if not bands:
            raise RuleError(f"bands for {figure}: give at least one band")
        rules.append(BandRule(figure, tuple(bands)))
    return rules


@dataclass
class BandRow:
    endpoint: str
    figure: str
    measured: float | None
    band: str | None
    verdict: str | None
    note: str = ""

    def line(self) -> str:
        if self.measured is None:
            return f"{self.endpoint}: {self.figure} n/a: no verdict ({self.note})"
        if self.verdict is None:
            return f"{self.endpoint}: {self.figure} {self.measured:.4g}: in no band"
        return f"{self.endpoint}: {self.figure} {self.measured:.4g} ({self.band}): {self.verdict}"


def judge_bands(document: Mapping[str, Any], rules: Sequence[BandRule]) -> list[dict[str, Any]]:
    rows = []
    for endpoint in document["endpoints"]:
        for rule in rules:
            value, reason = endpoint_value(document, endpoint["id"], rule.figure)
            row = BandRow(endpoint["id"], rule.figure, value, None, None, reason or "")
            if value is not None:
                band = next((b for b in rule.bands if b.holds(value)), None)
                if band is not None:
                    row.band, row.verdict = band.text, band.verdict
            rows.append(asdict(row))
    return rows
