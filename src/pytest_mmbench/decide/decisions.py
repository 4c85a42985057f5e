"""Turning a finished report into decisions: gate verdicts, requirements, the frontier.

Runs on the main process once the report document is built, adds its sections to the
document, and says whether the run must fail.  The same sections can be rebuilt later
from stored reports by ``pytest-mmbench`` (see :mod:`pytest_mmbench.cli`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mmbench.decide.bands import BandRow, BandRule, judge_bands
from pytest_mmbench.decide.frontier import Regime, RegimeResult, frontier, render
from pytest_mmbench.decide.gate import (
    GateRow,
    Requirement,
    RequirementRow,
    Rule,
    check_requirements,
    compare,
)
from pytest_mmbench.decide.noise import NOISE_TEST


class ReportFileError(Exception):
    """A report that cannot be read (missing, not JSON, not a pytest-mmbench report)."""


def read_report(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportFileError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise ReportFileError(f"{path}: not a readable JSON report ({exc})") from None
    if not isinstance(document, dict) or "records" not in document or "endpoints" not in document:
        raise ReportFileError(f"{path}: not a pytest-mmbench report (no records/endpoints)")
    return document


@dataclass
class Decisions:
    baseline: Mapping[str, Any] | None = None
    baseline_path: str | None = None
    rules: Sequence[Rule] = ()
    requirements: Sequence[Requirement] = ()
    per_endpoint: Mapping[str, Sequence[Requirement]] = field(default_factory=dict)
    regimes: Sequence[Regime] = ()
    bands: Sequence[BandRule] = ()

    def apply(self, document: dict[str, Any]) -> list[str]:
        """Add gate / requirements / frontier sections; return the failure lines."""
        failures: list[str] = []
        if self.baseline is not None:
            comparison = compare(self.baseline, document, self.rules)
            document["gate"] = {
                "baseline": self.baseline_path,
                "rules": [f"{r.figure}:{r.text}" for r in self.rules],
                "noise_test": NOISE_TEST,
                **comparison.to_dict(),
            }
            failures += [row.line() for row in comparison.rows if row.verdict == "FAIL"]
        if self.requirements or any(self.per_endpoint.values()):
            rows = check_requirements(document, self.requirements, self.per_endpoint)
            document["requirements"] = {
                "failed": any(r.verdict != "PASS" for r in rows),
                "rows": [r.__dict__ for r in rows],
            }
            failures += [row.line() for row in rows if row.verdict != "PASS"]
        if self.bands:
            document["bands"] = judge_bands(document, self.bands)
        if self.regimes and document["records"]:
            document["frontier"] = [r.to_dict() for r in frontier(document, self.regimes)]
        return failures


def render_decisions(document: Mapping[str, Any]) -> list[str]:
    """Terminal lines for whatever decision sections the document holds."""
    lines: list[str] = []
    gate = document.get("gate")
    if gate:
        verdicts = [row["verdict"] for row in gate["rows"]]
        counts = ", ".join(
            f"{verdicts.count(v)} {v}" for v in ("ok", "FAIL", "within noise", "n/a")
        )
        lines.append(f"gate vs {gate['baseline']} ({', '.join(gate['rules'])}): {counts}")
        lines += [
            GateRow(**row).line()
            for row in gate["rows"]
            if row["verdict"] in ("FAIL", "within noise")
        ]
        if gate["new_cases"]:
            lines.append(f"new cases (not judged): {', '.join(gate['new_cases'])}")
        if gate["vanished_cases"]:
            lines.append(f"vanished cases (not judged): {', '.join(gate['vanished_cases'])}")
    requirements = document.get("requirements")
    if requirements:
        lines.append("requirements:")
        lines += ["  " + RequirementRow(**row).line() for row in requirements["rows"]]
    bands = document.get("bands")
    if bands:
        lines.append("verdict bands:")
        lines += ["  " + BandRow(**row).line() for row in bands]
    regimes = document.get("frontier")
    if regimes:
        lines.append("deployment frontier:")
        lines += ["  " + line for line in render([RegimeResult(**r) for r in regimes])]
    return lines
