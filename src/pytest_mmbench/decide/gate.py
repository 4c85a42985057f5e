"""Decisions from reports: regression gates against a baseline, and absolute requirements.

Pure functions over report documents, used by the plugin (``--mm-baseline`` with
``--mm-fail-on``, ``--mm-require``) and by ``pytest-mmbench compare`` alike, so a stored
comparison gives the same verdicts as the run that made it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pytest_mmbench.decide.noise import welch
from pytest_mmbench.figures import (
    CASE_FIGURES,
    ENDPOINT_FIGURES,
    case_spread,
    case_value,
    endpoint_value,
    known_axis,
    share_counts,
)

DEFAULT_FAIL_ON = "tok_s:-10%,ttft_ms:+20%,energy_j:+15%,passed:-0"
_RULE = re.compile(
    r"^\s*(?P<name>[a-z_0-9]+)\s*:\s*(?P<sign>[+-])\s*(?P<amount>\d+(?:\.\d+)?)"
    r"\s*(?P<pct>%?)\s*$"
)
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[a-z_0-9]+(?:\.[a-z_0-9]+)?)\s*(?P<op><=|>=)\s*"
    r"(?P<value>-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?:\s*/\s*(?P<of>\d+))?\s*$"
)


class RuleError(ValueError):
    """A rule or requirement that cannot be understood; the message says how to write it."""


@dataclass(frozen=True)
class Rule:
    """How far a figure may move in its bad direction: ``tok_s:-10%``, ``ttft_ms:+50``."""

    figure: str
    amount: float  # always >= 0: the allowed change in the bad direction
    percent: bool

    @property
    def text(self) -> str:
        sign = "+" if not CASE_FIGURES[self.figure].higher_is_better else "-"
        return f"{sign}{self.amount:g}{'%' if self.percent else ''}"


def parse_rules(text: str) -> list[Rule]:
    """``"tok_s:-10%,ttft_ms:+20%,passed:-0"`` into rules; the sign must point the bad way."""
    rules = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _RULE.match(part)
        if not match:
            raise RuleError(
                f"cannot read rule {part!r}; write figure:+N% or figure:-N "
                "(e.g. tok_s:-10%, ttft_ms:+20%, passed:-0)"
            )
        name = match["name"]
        if name not in CASE_FIGURES:
            raise RuleError(
                f"unknown figure {name!r} in rule {part!r}; use one of {', '.join(CASE_FIGURES)}"
            )
        amount = float(match["amount"])
        bad_sign = "-" if CASE_FIGURES[name].higher_is_better else "+"
        if amount and match["sign"] != bad_sign:
            worse = "falls" if bad_sign == "-" else "rises"
            raise RuleError(
                f"rule {part!r}: {name} gets worse when it {worse}, so write "
                f"{name}:{bad_sign}{match['amount']}{match['pct']}"
            )
        rules.append(Rule(name, amount, bool(match["pct"])))
    return rules


@dataclass
class GateRow:
    endpoint: str
    case_id: str
    figure: str
    old: float | None
    new: float | None
    change_pct: float | None
    limit: str
    verdict: str  # ok | FAIL | within noise | n/a
    note: str = ""

    def line(self, unit: str = "") -> str:
        change = f"{self.change_pct:+.1f}%" if self.change_pct is not None else "n/a"
        return (
            f"{self.verdict} {self.endpoint}/{self.case_id}: {self.figure} "
            f"{_num(self.old)} -> {_num(self.new)} ({change}, limit {self.limit})"
            + (f" [{self.note}]" if self.note else "")
        )


@dataclass
class Comparison:
    rows: list[GateRow]
    new_cases: list[str]
    vanished_cases: list[str]

    @property
    def failed(self) -> bool:
        return any(row.verdict == "FAIL" for row in self.rows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "failed": self.failed,
            "rows": [asdict(r) for r in self.rows],
            "new_cases": self.new_cases,
            "vanished_cases": self.vanished_cases,
        }


def compare(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any],
    rules: Sequence[Rule],
) -> Comparison:
    """Judge every (endpoint, case) present in both reports by every rule.

    A case may override a rule's limit with ``gate = { tok_s = "-20%" }`` in its case
    data.  A move past the limit that Welch's t-test on both runs' rounds cannot tell
    from chance (decide/noise.py) is "within noise", not a failure.
    """
    old = {_key(r): r for r in baseline["records"]}
    new = {_key(r): r for r in current["records"]}
    rows = []
    for key in sorted(old.keys() & new.keys()):
        overrides = parse_rules(
            ",".join(f"{k}:{v}" for k, v in (new[key].get("gate") or {}).items())
        )
        effective = {r.figure: r for r in (*rules, *overrides)}
        for rule in effective.values():
            rows.append(_judge(old[key], new[key], rule))
    return Comparison(
        rows=rows,
        new_cases=[f"{e}/{c}" for e, c in sorted(new.keys() - old.keys())],
        vanished_cases=[f"{e}/{c}" for e, c in sorted(old.keys() - new.keys())],
    )


def _judge(old_record: Mapping[str, Any], new_record: Mapping[str, Any], rule: Rule) -> GateRow:
    figure = CASE_FIGURES[rule.figure]
    before, why_before = case_value(old_record, rule.figure)
    after, why_after = case_value(new_record, rule.figure)
    row = GateRow(
        new_record["endpoint"],
        new_record["case_id"],
        rule.figure,
        before,
        after,
        None,
        rule.text,
        "n/a",
    )
    if before is None or after is None:
        row.note = f"baseline: {why_before}" if before is None else f"current: {why_after}"
        return row
    change = after - before
    row.change_pct = 100 * change / before if before else None
    worse_by = -change if figure.higher_is_better else change
    allowed = rule.amount * abs(before) / 100 if rule.percent else rule.amount
    if worse_by <= allowed + 1e-12:
        row.verdict = "ok"
        return row
    sd_old, n_old = case_spread(old_record, rule.figure)
    sd_new, n_new = case_spread(new_record, rule.figure)
    if n_old > 1 and n_new > 1 and sd_old is not None and sd_new is not None:
        test = welch(before, sd_old, n_old, after, sd_new, n_new)
        if test.within_noise:
            row.verdict = "within noise"
            row.note = test.note()
            return row
    row.verdict = "FAIL"
    return row


# --- absolute requirements -----------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    figure: str
    op: str  # ">=" or "<="
    value: float
    written: str = ""  # the bound as written, e.g. "6/8" (seed 002's tool score)

    @property
    def text(self) -> str:
        return f"{self.figure}{self.op}{self.written or f'{self.value:g}'}"


@dataclass
class RequirementRow:
    endpoint: str
    requirement: str
    measured: float | None
    verdict: str  # PASS | FAIL | MISSING (counts as a failure: it could not be shown to hold)
    note: str = ""
    shown: str = ""  # the measured share as counts, e.g. "7/8", when it is one

    def line(self) -> str:
        measured = _num(self.measured)
        if self.shown:
            measured = self.shown
        return f"{self.verdict} {self.endpoint}: {self.requirement} (measured {measured})" + (
            f" [{self.note}]" if self.note else ""
        )


def parse_requirements(text: str) -> list[Requirement]:
    """``"tok_s>=40,ttft_ms<=200,mem_gb<=25,pass_rate>=0.75"`` into requirements."""
    result = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = _REQUIREMENT.match(part)
        if not match:
            raise RuleError(
                f"cannot read requirement {part!r}; write figure>=N or figure<=N "
                "(e.g. tok_s>=40, ttft_ms<=200)"
            )
        if not known_axis(match["name"]):
            raise RuleError(
                f"unknown figure {match['name']!r} in requirement {part!r}; use one "
                f"of {', '.join(ENDPOINT_FIGURES)}, category.<name>, entities.<group> "
                "or <modality>.<case figure> (e.g. vision.passed)"
            )
        value, written = float(match["value"]), ""
        if match["of"] is not None:
            if not int(match["of"]):
                raise RuleError(f"requirement {part!r}: the share's total must be above 0")
            value, written = value / int(match["of"]), f"{match['value']}/{match['of']}"
        result.append(Requirement(match["name"], match["op"], value, written))
    return result


def check_requirements(
    document: Mapping[str, Any],
    common: Sequence[Requirement],
    per_endpoint: Mapping[str, Sequence[Requirement]],
) -> list[RequirementRow]:
    """Seed 002's decision table: one PASS/FAIL row per requirement per endpoint."""
    rows = []
    for endpoint in document["endpoints"]:
        merged = {r.figure + r.op: r for r in (*common, *per_endpoint.get(endpoint["id"], ()))}
        for requirement in merged.values():
            value, reason = endpoint_value(document, endpoint["id"], requirement.figure)
            if value is None:
                rows.append(
                    RequirementRow(endpoint["id"], requirement.text, None, "MISSING", reason or "")
                )
                continue
            holds = (
                value >= requirement.value
                if requirement.op == ">="
                else (value <= requirement.value)
            )
            rows.append(
                RequirementRow(
                    endpoint["id"],
                    requirement.text,
                    value,
                    "PASS" if holds else "FAIL",
                    shown=share_counts(document, endpoint["id"], requirement.figure),
                )
            )
    return rows


def _key(record: Mapping[str, Any]) -> tuple[str, str]:
    return record["endpoint"], record["case_id"]


def _num(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
