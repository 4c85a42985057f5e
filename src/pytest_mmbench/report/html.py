"""A self-contained HTML report: tables, decisions and charts in one file, no network.

Charts are PNGs embedded as data URLs, styles are inline, nothing is fetched from a
CDN, so the file opens the same on an air-gapped machine or as a CI artifact.
"""

from __future__ import annotations

import base64
import html
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_mmbench.decide.decisions import render_decisions
from pytest_mmbench.report.terminal import eval_rows, quality_lines, render_summary

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d2433; max-width: 1200px; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.15rem; border-bottom: 1px solid #ccd; }
pre { background: #f5f6fa; padding: .8rem; overflow-x: auto; font-size: .85rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0 1rem; }
td, th { border: 1px solid #ccd; padding: .25rem .5rem; text-align: left; }
.FAIL, .MISSING, .error { color: #b00020; font-weight: 600; } .PASS, .passed { color: #1b7f3b; }
.note { color: #666; font-style: italic; } figure { margin: 1rem 0; }
"""


def missing_plot_library() -> str | None:
    if importlib.util.find_spec("matplotlib") is None:
        return "matplotlib is not installed; pip install 'pytest-mmbench[report]'"
    return None


def write_outputs(
    document: Mapping[str, Any], html_path: Path | None, plots_dir: Path | None
) -> list[str]:
    """Write the HTML page and/or the chart PNGs; return what was written, for the terminal."""
    from pytest_mmbench.report.plots import charts

    drawn = charts(document)
    written = []
    if plots_dir is not None:
        plots_dir.mkdir(parents=True, exist_ok=True)
        for chart in drawn:
            if chart.png is not None:
                (plots_dir / f"{chart.name}.png").write_bytes(chart.png)
        written.append(
            f"charts in {plots_dir}: {', '.join(c.name for c in drawn if c.png) or 'none drawable'}"
        )
    if html_path is not None:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(render_page(document, drawn), encoding="utf-8")
        written.append(f"HTML report: {html_path}")
    return written


def render_page(document: Mapping[str, Any], drawn: list[Any]) -> str:
    run = document["run"]
    sections = [
        _section("summary", "Summary", _pre(render_summary(document))),
        _section("cases", "Cases", _case_table(document)),
        _section("evals", "Evals per category", _eval_table(document)),
        _section(
            "gate",
            "Regression gate",
            _decision(document, "gate", "no baseline given (--mm-baseline)"),
        ),
        _section(
            "requirements",
            "Requirements",
            _decision(
                document,
                "requirements",
                "no requirements given (--mm-require or require in hosts.toml)",
            ),
        ),
        _section(
            "frontier",
            "Deployment frontier",
            _decision(document, "frontier", "no frontier computed"),
        ),
        _section("charts", "Charts", "".join(_figure(c) for c in drawn)),
    ]
    title = f"pytest-mmbench report {html.escape(str(run.get('started_at', '')))}"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>plugin {html.escape(str(run.get('plugin_version')))}, Python "
        f"{html.escape(str(run.get('python')))}, exit status {run.get('exit_status')}, "
        f"rounds {run.get('rounds')}</p>{''.join(sections)}</body></html>\n"
    )


def _section(anchor: str, title: str, body: str) -> str:
    return f"<section id='{anchor}'><h2>{html.escape(title)}</h2>{body}</section>"


def _pre(lines: list[str]) -> str:
    return f"<pre>{html.escape(chr(10).join(lines))}</pre>"


def _decision(document: Mapping[str, Any], key: str, absent: str) -> str:
    if not document.get(key):
        return f"<p class='note'>{html.escape(absent)}</p>"
    only = {k: v for k, v in document.items() if k in ("endpoints", "records", key)}
    lines = render_decisions(only)
    return (
        "<pre>"
        + "\n".join(f"<span class='{_verdict(line)}'>{html.escape(line)}</span>" for line in lines)
        + "</pre>"
    )


def _verdict(line: str) -> str:
    word = line.strip().split(" ", 1)[0]
    return word if word in ("FAIL", "MISSING", "PASS") else ""


def _case_table(document: Mapping[str, Any]) -> str:
    head = (
        "<tr><th>endpoint</th><th>case</th><th>status</th><th>tok/s</th><th>latency ms</th>"
        "<th>TTFT ms</th><th>energy J</th><th>check / reason</th></tr>"
    )
    rows = []
    for record in document["records"]:
        summary = record.get("summary") or {}

        def mean(key: str, summary: Mapping[str, Any] = summary) -> str:
            value = (summary.get(key) or {}).get("mean")
            return "n/a" if value is None else f"{value:.1f}"

        detail = (
            (record.get("check") or {}).get("detail")
            or record.get("error")
            or record.get("skip_reason")
            or ""
        )
        rows.append(
            f"<tr><td>{html.escape(record['endpoint'])}</td><td>{html.escape(record['case_id'])}"
            f"</td><td class='{record['status']}'>{record['status']}</td><td>{mean('output_tok_s')}"
            f"</td><td>{mean('e2e_ms')}</td><td>{mean('ttft_ms')}</td><td>{mean('energy_j')}</td>"
            f"<td>{html.escape(str(detail))}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _eval_table(document: Mapping[str, Any]) -> str:
    """Seed 004's table as HTML: pass rate per category per endpoint, then the overall
    score, response time, token medians, cost per task and the tool score."""
    cells = eval_rows(document)
    if not cells:
        return "<p class='note'>no case has a category</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in cells[1:]
    )
    notes = [
        line
        for endpoint in document["endpoints"]
        for line in quality_lines(endpoint["id"], document["summary"].get(endpoint["id"]) or {})
    ]
    return f"<table><tr>{head}</tr>{body}</table>" + (_pre(notes) if notes else "")


def _figure(chart: Any) -> str:
    caption = html.escape(chart.title)
    if chart.png is None:
        return (
            f"<figure id='chart-{chart.name}'><figcaption>{caption}</figcaption>"
            f"<p class='note'>no chart: {html.escape(chart.reason or 'no data')}</p></figure>"
        )
    data = base64.b64encode(chart.png).decode("ascii")
    note = f"<p class='note'>{html.escape(chart.reason)}</p>" if chart.reason else ""
    return (
        f"<figure id='chart-{chart.name}'><img alt='{caption}' "
        f"src='data:image/png;base64,{data}'><figcaption>{caption}</figcaption>{note}</figure>"
    )
