"""The terminal summary: one table per run, rows = cases, columns = endpoints.

Rendering works from the report document alone, so a stored report can be
re-printed later exactly as the run printed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STATUS_WORD = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "skip"}


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _mean(record: Mapping[str, Any], metric: str) -> float | None:
    value = ((record.get("summary") or {}).get(metric) or {}).get("mean")
    return None if value is None else float(value)


def cell(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "-"
    status = STATUS_WORD.get(record["status"], str(record["status"]))
    if record.get("pytest_outcome") == "xfailed":
        status = "FAIL(expected)"
    if record["status"] in ("skipped", "error"):
        return status
    tok_s = _fmt(_mean(record, "output_tok_s"), "{:.1f}")
    latency = _fmt(_mean(record, "e2e_ms"), "{:.0f}")
    estimated = "~" if record.get("output_tokens_estimated") else " "
    return f"{estimated}{tok_s:>7} tok/s {latency:>7} ms  {status}"


def render_summary(document: Mapping[str, Any]) -> list[str]:
    """Lines of the per-run table plus one summary line per endpoint."""
    endpoints = [e["id"] for e in document["endpoints"]]
    records = document["records"]
    cases = list(dict.fromkeys(r["case_id"] for r in records))
    by_key = {(r["endpoint"], r["case_id"]): r for r in records}
    header = ["case", *endpoints]
    rows = [[case, *(cell(by_key.get((e, case))) for e in endpoints)] for case in cases]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return " | ".join(text.ljust(width) for text, width in cells).rstrip()

    lines = [line(header), "-+-".join("-" * w for w in widths)]
    lines.extend(line(row) for row in rows)
    lines.append("")
    for endpoint in document["endpoints"]:
        s = document["summary"].get(endpoint["id"]) or {}
        hardware = f", {endpoint['hardware']}" if endpoint.get("hardware") else ""
        lines.append(
            f"{endpoint['id']} ({endpoint['model']}{hardware}): "
            f"{s.get('passed', 0)}/{s.get('passed', 0) + s.get('failed', 0) + s.get('errors', 0)}"
            f" passed, {s.get('errors', 0)} errors, {s.get('skipped', 0)} skipped; "
            f"mean {_fmt(s.get('mean_output_tok_s'), '{:.1f}')} tok/s, "
            f"latency {_fmt(s.get('mean_e2e_ms'), '{:.0f}')} ms, "
            f"TTFT {_fmt(s.get('mean_ttft_ms'), '{:.0f}')} ms"
        )
    return lines
