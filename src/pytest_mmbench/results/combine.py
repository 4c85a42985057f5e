"""Combine reports of separate runs into one: one case table, one frontier, one page.

Seed 000 measured Qwen on another machine than Gemma and Phi-4; seed 002 compared runs
made on different days.  Each endpoint keeps the metadata of the run that measured it
(``source_run``: host, time, plugin version, rounds), so a reader can see where and when
every figure came from.  Figures from different plugin or schema versions are refused:
how a figure is measured can change between versions, and a table that mixes them would
compare unlike things.  The decisions (gate, requirements, frontier) of the inputs are
dropped: they judged one run each, and the combined report is judged afresh.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

JUDGED = ("gate", "requirements", "frontier", "bands")
SOURCE_FIELDS = (
    "started_at", "finished_at", "plugin_version", "python", "platform", "git_commit",
    "run_id", "rounds", "warmup", "endpoints_file", "interrupted",
)  # fmt: skip


class CombineError(Exception):
    """The reports cannot be combined; the message says which and how to fix it."""


def combine(
    reports: Sequence[tuple[str, Mapping[str, Any]]], prefix: bool = False
) -> dict[str, Any]:
    """One report from ``(name, document)`` pairs, in order; ``prefix`` renames every
    endpoint to ``<name>-<id>`` so the same endpoint measured twice can sit side by side."""
    if len(reports) < 2:
        raise CombineError("give at least two reports to merge")
    _same_versions(reports)
    seen: dict[str, str] = {}
    endpoints: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    load: dict[str, list[dict[str, Any]]] = {}
    cases: dict[str, list[str]] = {}
    for name, document in reports:
        rename = {
            e["id"]: f"{name}-{e['id']}" if prefix else e["id"] for e in document["endpoints"]
        }
        source = {"file": name, **{k: document["run"].get(k) for k in SOURCE_FIELDS}}
        for endpoint in document["endpoints"]:
            new_id = rename[endpoint["id"]]
            if new_id in seen:
                hint = "rename it in one hosts.toml" if prefix else "pass --prefix"
                raise CombineError(
                    f"endpoint {new_id!r} is in both {seen[new_id]} and {name}; {hint} to keep both"
                )
            seen[new_id] = name
            endpoints.append({**endpoint, "id": new_id, "source_run": source})
        for record in document["records"]:
            records.append({**record, "endpoint": rename[record["endpoint"]]})
            cases.setdefault(record["case_id"], [])
            if name not in cases[record["case_id"]]:
                cases[record["case_id"]].append(name)
        for old, row in document["summary"].items():
            summary[rename.get(old, old)] = row
        for old, rows in (document.get("load") or {}).items():
            load[rename.get(old, old)] = [{**row, "endpoint": rename.get(old, old)} for row in rows]
    names = [name for name, _ in reports]
    partial = {case: found for case, found in cases.items() if len(found) < len(names)}
    first = reports[0][1]
    runs = [document["run"] for _, document in reports]
    merged_run = {
        **first["run"],
        "started_at": min(r["started_at"] for r in runs),
        "finished_at": max(r["finished_at"] for r in runs),
        "exit_status": max(int(r["exit_status"]) for r in runs),
        "interrupted": any(r["interrupted"] for r in runs),
        "command_line": ["pytest-mmbench", "merge", *names],
        "merged_from": [
            {"file": n, **{k: d["run"].get(k) for k in SOURCE_FIELDS}} for n, d in reports
        ],
        "cases_not_in_every_run": partial,
    }
    combined: dict[str, Any] = {
        "schema_version": first["schema_version"],
        "run": merged_run,
        "endpoints": endpoints,
        "records": records,
        "summary": summary,
    }
    if load:
        combined["load"] = load
    return combined


def _same_versions(reports: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
    for label, versions in (
        ("report schema", {name: d.get("schema_version") for name, d in reports}),
        ("pytest-mmbench", {name: d["run"].get("plugin_version") for name, d in reports}),
    ):
        found = dict(versions)
        if len(set(found.values())) > 1:
            listed = ", ".join(f"{name}: {value}" for name, value in found.items())
            raise CombineError(
                f"the reports come from different {label} versions ({listed}); figures "
                f"measured by different versions are not merged: rerun them with one version"
            )


def merge_lines(combined: Mapping[str, Any]) -> list[str]:
    """What the terminal says about a merge: inputs, and cases missing from some runs."""
    run = combined["run"]
    parts = []
    for source in run["merged_from"]:
        count = sum(e["source_run"]["file"] == source["file"] for e in combined["endpoints"])
        parts.append(f"{source['file']} ({source['started_at']}, {count} endpoints)")
    lines = [f"merged {len(parts)} runs: {', '.join(parts)}"]
    for case, found in sorted(run["cases_not_in_every_run"].items()):
        lines.append(f"  case {case} is only in {', '.join(found)}")
    return lines
