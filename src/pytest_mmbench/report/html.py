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

from pytest_mmbench.report import html_tables as tables
from pytest_mmbench.report.terminal import not_applicable_line, quality_lines, telemetry_line

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; color: #1d2433; max-width: 1240px;
  padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.2rem; border-bottom: 2px solid #ccd; margin-top: 2rem; }
h3 { font-size: 1rem; margin-bottom: .3rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; font-size: .85rem; margin: .4rem 0 1rem; }
td, th { border: 1px solid #dde; padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f0f2f8; cursor: pointer; user-select: none; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bad { color: #b00020; font-weight: 600; } .good { color: #1b7f3b; } .na { color: #888; }
.note { color: #666; font-style: italic; } figure { margin: 1rem 0; }
figure img { max-width: 100%; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; }
.card { border: 1px solid #ccd; border-radius: 6px; padding: .6rem .9rem; min-width: 260px;
  flex: 1; font-size: .85rem; } .card h3 { margin: 0 0 .3rem; }
.card dl { display: grid; grid-template-columns: max-content auto; gap: .1rem .6rem; margin: 0; }
.card dt { color: #666; }
"""

# Click a header to sort by that column (numbers as numbers, n/a last); no network.
SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach((th, col) => th.addEventListener('click',
  () => { const body = th.closest('table').tBodies[0]; const dir = th.dataset.dir === 'a' ? -1 : 1;
  th.dataset.dir = dir === 1 ? 'a' : 'd';
  const key = r => { const t = r.cells[col].innerText; const n = parseFloat(t);
    return isNaN(n) ? (t.startsWith('n/a') ? null : t) : n; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    if (x === null) return 1; if (y === null) return -1;
    return (x > y ? 1 : x < y ? -1 : 0) * dir; }).forEach(r => body.appendChild(r)); }));
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


SECTIONS = (
    ("speed", "How fast"),
    ("quality", "How right"),
    ("energy", "How much energy"),
    ("gate", "What changed"),
    ("deploy", "What to deploy"),
)


def render_page(document: Mapping[str, Any], drawn: list[Any]) -> str:
    """One section per question a reader brings, each with its tables, then its charts."""
    run = document["run"]
    charts = {key: "".join(_figure(c) for c in drawn if c.section == key) for key, _ in SECTIONS}
    bodies = {
        "speed": tables.speed_table(document) + tables.load_tables(document),
        "quality": tables.eval_table(document) + _notes(document) + tables.quality_table(document),
        "energy": tables.telemetry_table(document)
        + tables.energy_table(document)
        + tables.timeline_table(document),
        "gate": tables.gate_table(document),
        "deploy": tables.deploy_tables(document),
    }
    nav = "".join(f"<a href='#{key}'>{html.escape(title)}</a>" for key, title in SECTIONS)
    sections = "".join(
        f"<section id='{key}'><h2>{html.escape(title)}</h2>{bodies[key]}{charts[key]}</section>"
        for key, title in SECTIONS
    )
    title = f"pytest-mmbench report {html.escape(str(run.get('started_at', '')))}"
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{STYLE}</style></head><body><h1>{title}</h1>"
        f"<p>plugin {html.escape(str(run.get('plugin_version')))}, Python "
        f"{html.escape(str(run.get('python')))}, exit status {run.get('exit_status')}, "
        f"rounds {run.get('rounds')}</p><nav>{nav}</nav>"
        f"<section id='endpoints'><h2>Endpoints</h2>{_cards(document)}</section>{sections}"
        f"<script>{SORT_SCRIPT}</script></body></html>\n"
    )


def _cards(document: Mapping[str, Any]) -> str:
    """What each endpoint is: model, hardware, modalities, what the probe found, telemetry."""
    cards = []
    for endpoint in document["endpoints"]:
        summary = document["summary"].get(endpoint["id"]) or {}
        found = endpoint.get("capabilities") or {}
        decided = sum(summary.get(k, 0) for k in ("passed", "failed", "errors"))
        facts = {
            "model": endpoint.get("model"),
            "hardware": endpoint.get("hardware") or "not declared",
            "modalities": ", ".join(endpoint.get("modalities") or []),
            "context": endpoint.get("context_window") or "not declared",
            "passed": f"{summary.get('passed', 0)} of {decided} judged cases",
            "probe": _probe_text(found),
            "telemetry": telemetry_line(endpoint["id"], summary.get("telemetry") or {})
            .split(": ", 1)[-1]
            .split(" telemetry ", 1)[-1],
        }
        folded = not_applicable_line(document, endpoint["id"])
        if folded:
            facts["not applicable"] = folded.split("not applicable: ", 1)[1]
        rows = "".join(
            f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in facts.items()
        )
        cards.append(
            f"<div class='card'><h3>{html.escape(endpoint['id'])}</h3><dl>{rows}</dl></div>"
        )
    return f"<div class='cards'>{''.join(cards)}</div>"


def _probe_text(found: Mapping[str, Any]) -> str:
    if not found.get("probed"):
        return "not probed"
    if found.get("error"):
        return f"probe failed: {found['error']}"
    parts = [
        f"usage {found.get('usage')}",
        f"[DONE] {'yes' if found.get('done_marker') else 'no'}",
        f"reasoning field {found.get('reasoning_field') or 'none seen'}",
    ]
    if found.get("rejected_fields"):
        parts.append(f"rejects {', '.join(found['rejected_fields'])}")
    parts += [f"{m} {v['verdict']}" for m, v in (found.get("media") or {}).items()]
    return "; ".join(parts)


def _notes(document: Mapping[str, Any]) -> str:
    lines = [
        line
        for endpoint in document["endpoints"]
        for line in quality_lines(endpoint["id"], document["summary"].get(endpoint["id"]) or {})
    ]
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines)


def _figure(chart: Any) -> str:
    caption = html.escape(chart.title)
    if chart.png is None:
        return (
            f"<figure id='chart-{chart.name}'><figcaption>{caption}</figcaption>"
            f"<p class='note na'>n/a ({html.escape(chart.reason or 'no data')})</p></figure>"
        )
    data = base64.b64encode(chart.png).decode("ascii")
    note = f"<p class='note'>{html.escape(chart.reason)}</p>" if chart.reason else ""
    return (
        f"<figure id='chart-{chart.name}'><img alt='{caption}' "
        f"src='data:image/png;base64,{data}'><figcaption>{caption}</figcaption>{note}</figure>"
    )
