"""Eval summaries per endpoint: seed 004's category table and seed 002's quality scores.

From one endpoint's records: pass rate per category as ``x/y``, the overall score,
average response time, median input and output tokens (seed 004's columns), the tool
score split by call format (seed 002's "8/8 structured" and "≥ 50% any format"), entity
recall per group summed over extraction cases ("7/7 persons, 3/3 places"), and how many
cases spent their whole budget on reasoning.

A case counts in a rate when it was decided: passed, failed or errored (an error is a
task not done).  Skipped and unsupported cases are left out and counted apart, so a
model is never scored on inputs it was not sent.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

DECIDED = ("passed", "failed", "error")


def score(passed: int, total: int) -> dict[str, Any]:
    return {"passed": passed, "total": total, "rate": passed / total if total else None}


def eval_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    decided = [r for r in records if r["status"] in DECIDED]
    categories: dict[str, list[Mapping[str, Any]]] = {}
    for record in decided:
        if record.get("category"):
            categories.setdefault(record["category"], []).append(record)
    measured = [r for r in decided if r["status"] != "error"]
    return {
        "overall": _score_of(decided),
        "categories": {name: _score_of(group) for name, group in sorted(categories.items())},
        "avg_response_ms": _mean([_figure(r, "e2e_ms") for r in measured]),
        "median_input_tokens": _median([_figure(r, "input_tokens") for r in measured]),
        "median_output_tokens": _median([_figure(r, "output_tokens") for r in measured]),
        "tools": _tools(records),
        "entities": _entities(decided),
        "reasoning_used_budget": sum(1 for r in records if r.get("reasoning_used_budget")),
    }


def _score_of(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return score(sum(1 for r in records if r["status"] == "passed"), len(records))


def _tools(records: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """``tools 7/8 (structured 6, text 0, no call 1)``: passes by the format that passed."""
    cases = [r for r in records if r.get("uses_tools") and r["status"] in DECIDED]
    if not cases:
        return None
    formats = [_facts(r).get("tool_call_format") for r in cases if r["status"] == "passed"]
    return {
        **score(len(formats), len(cases)),
        "structured": formats.count("structured"),
        "text": formats.count("text"),
        "no_call": formats.count("none"),
    }


def _entities(records: Sequence[Mapping[str, Any]]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for record in records:
        for group, (hits, total) in (_facts(record).get("entities") or {}).items():
            found = groups.setdefault(group, [0, 0])
            found[0] += hits
            found[1] += total
    return groups


def _facts(record: Mapping[str, Any]) -> Mapping[str, Any]:
    return (record.get("check") or {}).get("facts") or {}


def _figure(record: Mapping[str, Any], name: str) -> float | None:
    value = ((record.get("summary") or {}).get(name) or {}).get("mean")
    return None if value is None else float(value)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def tools_text(tools: Mapping[str, Any]) -> str:
    """``tools 7/8 (structured 6, text 0, no call 1)``; "no call" only when there is one."""
    parts = [f"structured {tools['structured']}", f"text {tools['text']}"]
    if tools["no_call"]:
        parts.append(f"no call {tools['no_call']}")
    return f"tools {tools['passed']}/{tools['total']} ({', '.join(parts)})"


def score_text(found: Mapping[str, Any]) -> str:
    """``5/9 (55.6%)``, seed 004's cell."""
    rate = found["rate"]
    pct = "n/a" if rate is None else f"{100 * rate:.1f}%"
    return f"{found['passed']}/{found['total']} ({pct})"
