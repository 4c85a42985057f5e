"""The HTML report's tables, built from the report document as real ``<table>``s.

Every cell is escaped; a missing figure is ``n/a`` with its reason in the title, never
0.  Tables carry ``class='sortable'``: a click on a header sorts by that column.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from pytest_mmbench.report.power_timeline import window_groups
from pytest_mmbench.report.terminal import (
    LOAD_HEADER,
    STATUS_WORD,
    eval_rows,
    load_cells,
    load_notes,
    not_applicable,
)


def table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """A sortable table; cells are plain text (escaped here) and columns from
    ``numeric_from`` on are right-aligned numbers."""
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='{'num' if i >= numeric_from else ''} {_cls(c)}'>{html.escape(c)}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table class='sortable'><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _cls(text: str) -> str:
    word = text.split(" ", 1)[0].split("(", 1)[0]
    return {"PASS": "good", "ok": "good", "FAIL": "bad", "MISSING": "bad", "ERROR": "bad"}.get(
        word, "na" if text.startswith("n/a") else ""
    )


def _num(value: Any, pattern: str = "{:.1f}") -> str:
    return "n/a" if value is None else pattern.format(value)


def _mean(record: Mapping[str, Any], key: str, pattern: str = "{:.1f}") -> str:
    return _num(((record.get("summary") or {}).get(key) or {}).get("mean"), pattern)


def speed_table(document: Mapping[str, Any]) -> str:
    rows = []
    for record in document["records"]:
        if record["status"] in ("skipped",) or not_applicable(record):
            continue
        rows.append(
            [
                record["case_id"],
                record["endpoint"],
                _mean(record, "output_tok_s"),
                _mean(record, "decode_tok_s"),
                _mean(record, "ttft_ms", "{:.0f}"),
                _mean(record, "e2e_ms", "{:.0f}"),
                _mean(record, "itl_p99_ms", "{:.1f}"),
                _mean(record, "output_tokens", "{:.0f}"),
                str(len(record.get("rounds") or [])),
            ]
        )
    if not rows:
        return "<p class='note'>no measured case</p>"
    head = ["case", "endpoint", "tok/s", "decode tok/s", "TTFT ms", "latency ms",
            "ITL p99 ms", "output tokens", "rounds"]  # fmt: skip
    return table(head, rows, numeric_from=2)


def load_tables(document: Mapping[str, Any]) -> str:
    """The load points per endpoint, with the notes a reader needs before trusting a row."""
    out = []
    for endpoint, rows in (document.get("load") or {}).items():
        notes = "".join(f"<p class='note bad'>{html.escape(n)}</p>" for n in load_notes(rows))
        body = table(LOAD_HEADER, [load_cells(row) for row in rows])
        out.append(f"<h3>load on {html.escape(endpoint)}</h3>{body}{notes}")
    return "".join(out) or "<p class='note'>no load points in this run</p>"


def quality_table(document: Mapping[str, Any]) -> str:
    rows = []
    for record in document["records"]:
        if not_applicable(record):
            continue
        status = STATUS_WORD.get(record["status"], str(record["status"]))
        if record.get("pytest_outcome") == "xfailed":
            status = "FAIL (expected)"
        detail = (
            (record.get("check") or {}).get("detail")
            or record.get("error")
            or record.get("skip_reason")
            or ""
        )
        rows.append([record["case_id"], record["endpoint"], record.get("category") or "",
                     status, str(detail)])  # fmt: skip
    if not rows:
        return "<p class='note'>no case was judged</p>"
    return table(["case", "endpoint", "category", "verdict", "check / reason"], rows, 9)


def eval_table(document: Mapping[str, Any]) -> str:
    cells = eval_rows(document)
    if not cells:
        return "<p class='note'>no case has a category</p>"
    return table(cells[0], cells[1:])


def telemetry_table(document: Mapping[str, Any]) -> str:
    rows = []
    for endpoint in document["endpoints"]:
        t = (document["summary"].get(endpoint["id"]) or {}).get("telemetry") or {}
        if t.get("source") is None:
            reason = next(iter((t.get("missing") or {}).values()), "not configured")
            rows.append([endpoint["id"], f"n/a ({reason})", *["n/a"] * 6])
            continue
        rows.append(
            [
                endpoint["id"],
                f"{t['source']} ({', '.join(map(str, t.get('gpus') or []))})",
                _num(t.get("idle_power_w")),
                _num(t.get("avg_inference_power_w")),
                _num(t.get("peak_power_w")),
                _num(t.get("peak_temp_c"), "{:.0f}"),
                _num(t.get("tok_s_per_w"), "{:.3f}"),
                _num(t.get("total_energy_j")),
            ]
        )
    head = ["endpoint", "source", "idle W", "inference W", "peak W", "peak C", "tok/s/W",
            "energy J"]  # fmt: skip
    return table(head, rows, numeric_from=2)


def energy_table(document: Mapping[str, Any]) -> str:
    rows = [
        [
            r["case_id"],
            r["endpoint"],
            _mean(r, "energy_j"),
            _mean(r, "energy_above_idle_j"),
            _mean(r, "j_per_output_token", "{:.3f}"),
            _mean(r, "tok_s_per_w", "{:.3f}"),
            _mean(r, "avg_power_w"),
        ]
        for r in document["records"]
        if ((r.get("summary") or {}).get("energy_j") or {}).get("mean") is not None
    ]
    if not rows:
        return "<p class='note'>n/a: no case has an energy figure (no telemetry)</p>"
    head = ["case", "endpoint", "energy J", "above idle J", "J/token", "tok/s/W", "avg W"]
    return table(head, rows, numeric_from=2)


def timeline_table(document: Mapping[str, Any]) -> str:
    """The windows the power charts shade, numbered as on the charts, with their energy."""
    rows = []
    for endpoint in document["endpoints"]:
        traces = endpoint.get("power_timeline") or []
        origin = min((t["start_epoch_s"] for t in traces), default=0.0)
        number = 0
        for trace in traces:
            shift = trace["start_epoch_s"] - origin
            for group in window_groups(trace):
                number += 1
                energy = "n/a" if group.energy_j is None else f"{group.energy_j:.1f}"
                rows.append(
                    [
                        endpoint["id"],
                        str(number),
                        group.label,
                        group.kind,
                        str(len(group.spans)),
                        f"{group.start_s + shift:.1f}",
                        f"{group.seconds:.2f}",
                        energy,
                        group.energy_text().removesuffix(" J above idle"),
                    ]
                )
    if not rows:
        return ""
    head = ["endpoint", "#", "window", "kind", "windows", "starts at s", "seconds",
            "energy J", "above idle J"]  # fmt: skip
    return "<h3>Measured windows on the power timeline</h3>" + table(head, rows, numeric_from=4)


def gate_table(document: Mapping[str, Any]) -> str:
    gate = document.get("gate")
    if not gate:
        return "<p class='note'>no baseline given (--mm-baseline)</p>"
    rows = [
        [
            f"{r['endpoint']}/{r['case_id']}",
            r["figure"],
            _num(r.get("old"), "{:.4g}"),
            _num(r.get("new"), "{:.4g}"),
            _num(r.get("change_pct"), "{:+.1f}%"),
            r["limit"],
            r["verdict"],
            r.get("note") or "",
        ]
        for r in gate["rows"]
    ]
    intro = (
        f"<p>against <code>{html.escape(str(gate['baseline']))}</code>, rules "
        f"{html.escape(', '.join(gate['rules']))}; noise test: "
        f"{html.escape(str(gate.get('noise_test', '')))}</p>"
    )
    head = ["case", "figure", "before", "after", "change", "limit", "verdict", "note"]
    return intro + table(head, rows, numeric_from=2)


def deploy_tables(document: Mapping[str, Any]) -> str:
    parts = []
    for regime in document.get("frontier") or []:
        r = regime["regime"]
        axes = [f"max {a}" for a in r["maximize"]] + [f"min {a}" for a in r["minimize"]]
        verdict = (
            f"no frontier: {regime['undecided']}"
            if regime.get("undecided")
            else f"frontier: {', '.join(regime['frontier']) or 'none'}"
        )
        rows = []
        for endpoint in document["endpoints"]:
            e = endpoint["id"]
            if e in regime["not_eligible"]:
                role = f"not eligible: {regime['not_eligible'][e]}"
            elif e in regime["dominated"]:
                role = f"dominated by {', '.join(regime['dominated'][e])}"
            else:
                role = "on the frontier" if e in regime["frontier"] else "-"
            values = regime["values"].get(e) or {}
            excluded = regime["excluded_axes"].get(e) or {}
            cells = [
                _num(values.get(a), "{:.4g}") if a in values else f"n/a ({excluded.get(a, '')})"
                for a in [*r["maximize"], *r["minimize"]]
            ]
            rows.append([e, role, *cells])
        head = ["endpoint", "verdict", *axes]
        parts.append(
            f"<h3>{html.escape(r['name'])}</h3><p><b>{html.escape(verdict)}</b> "
            f"<span class='note'>{html.escape(r.get('description') or '')}</span></p>"
            + table(head, rows, numeric_from=2)
        )
    requirements = document.get("requirements")
    if requirements:
        rows = [[r["endpoint"], r["requirement"], r.get("shown") or _num(r.get("measured"),
                 "{:.4g}"), r["verdict"], r.get("note") or ""]
                for r in requirements["rows"]]  # fmt: skip
        parts.append("<h3>requirements</h3>" + table(
            ["endpoint", "requirement", "measured", "verdict", "note"], rows, 2))  # fmt: skip
    bands = document.get("bands")
    if bands:
        rows = [[b["endpoint"], b["figure"], _num(b.get("measured"), "{:.4g}"),
                 b.get("verdict") or f"n/a ({b.get('note', '')})"] for b in bands]  # fmt: skip
        parts.append("<h3>bands</h3>" + table(["endpoint", "figure", "measured", "verdict"],
                                              rows, 2))  # fmt: skip
    return "".join(parts) or "<p class='note'>no frontier computed</p>"
