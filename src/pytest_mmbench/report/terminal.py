"""The terminal summary: one table per run, rows = cases, columns = endpoints.

Rendering works from the report document alone, so a stored report can be
re-printed later exactly as the run printed it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_mmbench.results.evals import score_text, tools_text

STATUS_WORD = {
    "passed": "PASS",
    "failed": "FAIL",
    "error": "ERROR",
    "skipped": "skip",
    "unsupported": "unsupported",
}


def _fmt(value: float | None, pattern: str) -> str:
    return "n/a" if value is None else pattern.format(value)


def _mean(record: Mapping[str, Any], metric: str) -> float | None:
    value = ((record.get("summary") or {}).get(metric) or {}).get("mean")
    return None if value is None else float(value)


def not_applicable(record: Mapping[str, Any] | None) -> bool:
    """Skipped because the endpoint does not take the case's modality."""
    return (
        record is not None
        and record["status"] == "skipped"
        and "does not accept" in (record.get("skip_reason") or "")
    )


def not_applicable_line(document: Mapping[str, Any], endpoint_id: str) -> str | None:
    """The folded modality skips of one endpoint: ``not applicable: vision 9, audio 3``."""
    counts: dict[str, int] = {}
    for record in document["records"]:
        if record["endpoint"] == endpoint_id and not_applicable(record):
            counts[record["marker"]] = counts.get(record["marker"], 0) + 1
    if not counts:
        return None
    return f"{endpoint_id} not applicable: " + ", ".join(f"{m} {n}" for m, n in counts.items())


def cell(record: Mapping[str, Any] | None) -> str:
    if record is None:
        return "-"
    status = STATUS_WORD.get(record["status"], str(record["status"]))
    if record.get("pytest_outcome") == "xfailed":
        status = "FAIL(expected)"
    if record.get("reasoning_used_budget") and record["status"] == "failed":
        status = "NO ANSWER (reasoning used the budget)"
    if not_applicable(record):
        return "not applicable"  # seed 000's wording: the endpoint lacks the modality
    if record["status"] in ("skipped", "error", "unsupported"):
        return status
    tok_s = _fmt(_mean(record, "output_tok_s"), "{:.1f}")
    latency = _fmt(_mean(record, "e2e_ms"), "{:.0f}")
    estimated = "~" if record.get("output_tokens_estimated") else " "
    return f"{estimated}{tok_s:>7} tok/s {latency:>7} ms  {status}"


def energy_cell(record: Mapping[str, Any] | None) -> str:
    if record is None or record["status"] in ("skipped", "error"):
        return "-"
    energy = _mean(record, "energy_j")
    if energy is None:
        return "n/a"
    per_token = _fmt(_mean(record, "j_per_output_token"), "{:.3f}")
    per_watt = _fmt(_mean(record, "tok_s_per_w"), "{:.3f}")
    return f"{energy:>8.1f} J {per_token:>7} J/tok {per_watt:>7} tok/s/W"


def _table(document: Mapping[str, Any], render: Any) -> list[str]:
    endpoints = [e["id"] for e in document["endpoints"]]
    records = document["records"]
    cases = list(dict.fromkeys(r["case_id"] for r in records))
    by_key = {(r["endpoint"], r["case_id"]): r for r in records}
    # A case no endpoint can take is one "not applicable" line per endpoint, not a row.
    cases = [c for c in cases if not all(not_applicable(by_key.get((e, c))) for e in endpoints)]
    if not cases:
        return []
    header = ["case", *endpoints]
    rows = [[case, *(render(by_key.get((e, case))) for e in endpoints)] for case in cases]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        cells = zip(row, widths, strict=True)
        return " | ".join(text.ljust(width) for text, width in cells).rstrip()

    return [line(header), "-+-".join("-" * w for w in widths), *(line(row) for row in rows)]


def telemetry_line(endpoint_id: str, telemetry: Mapping[str, Any]) -> str:
    """Seed 000's telemetry row: idle, inference and peak power, temperature, memory, tok/s/W."""
    if telemetry.get("source") is None:
        reason = next(iter((telemetry.get("missing") or {}).values()), "not configured")
        return f"{endpoint_id} telemetry: n/a ({reason})"
    memory = telemetry.get("baseline_mem_mib")
    gpus = ", ".join(map(str, telemetry["gpus"]))
    return (
        f"{endpoint_id} telemetry ({telemetry['source']}, {gpus}): "
        f"idle {_fmt(telemetry.get('idle_power_w'), '{:.1f}')} W, "
        f"inference {_fmt(telemetry.get('avg_inference_power_w'), '{:.1f}')} W avg / "
        f"{_fmt(telemetry.get('peak_power_w'), '{:.1f}')} W peak, "
        f"{_fmt(telemetry.get('avg_temp_c'), '{:.1f}')} / "
        f"{_fmt(telemetry.get('peak_temp_c'), '{:.0f}')} C, "
        f"baseline memory {_fmt(memory / 1024 if memory is not None else None, '{:.1f}')} GiB, "
        f"{_fmt(telemetry.get('tok_s_per_w'), '{:.3f}')} tok/s/W, "
        f"{_fmt(telemetry.get('total_energy_j'), '{:.1f}')} J "
        f"in {telemetry.get('windows', 0)} windows"
    )


LOAD_HEADER = (
    "point",
    "req",
    "err",
    "TTFT p50/p99 ms",
    "TPOT p50 ms",
    "e2e p50 ms",
    "out tok/s",
    "req/s",
    "RPM",
    "goodput/s",
    "queue p99 ms",
    "client CPU",
)


def load_cells(row: Mapping[str, Any]) -> tuple[str, ...]:
    """One load row as the table's cells (terminal and HTML alike)."""

    def p(key: str, q: str) -> str:
        return _fmt((row.get(key) or {}).get(q), "{:.0f}")

    cpu = row.get("client_cpu_share")
    return (
        f"{row['case_id']}/{row['point']}",
        str(row["requests"]),
        str(row["errors"]),
        f"{p('ttft_ms', 'p50')}/{p('ttft_ms', 'p99')}",
        _fmt((row.get("tpot_ms") or {}).get("p50"), "{:.1f}"),
        p("e2e_ms", "p50"),
        _fmt(row.get("output_tok_s"), "{:.1f}"),
        _fmt(row.get("request_rate"), "{:.2f}"),
        _fmt(row.get("rpm"), "{:.1f}"),
        _fmt(row.get("goodput_rps"), "{:.2f}"),
        _fmt((row.get("queue_ms") or {}).get("p99"), "{:.2f}"),
        ("n/a" if cpu is None else f"{100 * cpu:.0f}%")
        + (" CLIENT-BOUND" if row.get("client_bound") else ""),
    )


def load_table(document: Mapping[str, Any]) -> list[str]:
    """Seed 001's "scales with concurrency" table: one row per load point per endpoint."""
    lines = []
    for endpoint, rows in (document.get("load") or {}).items():
        table = [LOAD_HEADER, *(load_cells(row) for row in rows)]
        widths = [max(len(r[i]) for r in table) for i in range(len(LOAD_HEADER))]
        lines.append(f"load on {endpoint}:")
        for r in table:
            lines.append("  " + " | ".join(t.rjust(w) for t, w in zip(r, widths, strict=True)))
        lines.extend(f"  {note}" for note in load_notes(rows))
        lines.append("")
    return lines


def load_notes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [note for row in rows for note in _row_notes(row)]


def _row_notes(row: Mapping[str, Any]) -> list[str]:
    """What a reader must know before trusting a load row."""
    name, notes = f"{row['case_id']}/{row['point']}", []
    if row.get("interrupted"):
        notes.append(
            f"{name}: INTERRUPTED: {row['completed']} of {row['requests']} requests completed "
            "and are measured"
        )
    if row.get("partial"):
        notes.append(
            f"{name}: PARTIAL: a client host died; {row['lost_with_client']} requests were "
            "lost with it, the completed ones are measured"
        )
    hosts = [h for h in row.get("hosts") or [] if h["spec"] != "local"]
    if hosts:
        notes.append(f"{name}: clients " + ", ".join(_host_note(h) for h in hosts))
    length = row.get("output_length") or {}
    if length.get("not_enforced"):
        share = length.get("missed_share")
        missed = "n/a" if share is None else f"{length['missed']} ({100 * share:.0f}%)"
        notes.append(
            f"{name}: output length not enforced ({length['enforced_by']}); "
            f"{missed} requests missed {length['target']} tokens"
        )
    return notes


def _host_note(host: Mapping[str, Any]) -> str:
    share = host["client_cpu_share"]
    cpu = "n/a" if share is None else f"{100 * share:.0f}%"
    offset = host["clock_offset_ms"]
    clock = "n/a" if offset is None else f"{offset:+.2f} ms (rtt {host['clock_rtt_ms']:.2f})"
    bound = " CLIENT-BOUND" if host["client_bound"] else ""
    status = "" if host["status"] == "ok" else f" {host['status'].upper()}"
    return (
        f"{host['host']} [{host['spec']}] x{host['processes']}: {host['reported']}/"
        f"{host['requests']} back, CPU {cpu}{bound}, clock {clock}{status}"
    )


def capability_line(endpoint: Mapping[str, Any]) -> str | None:
    """One line on what the probe found, when it found anything worth a warning."""
    found = endpoint.get("capabilities")
    if not found or not found.get("probed"):
        return None
    parts = []
    if found.get("error"):
        parts.append(f"probe failed: {found['error']}")
    if found.get("rejected_fields"):
        parts.append(f"rejects {', '.join(found['rejected_fields'])} (left out)")
    if found.get("usage") == "none":
        parts.append("sends no usage (token counts estimated)")
    for modality, verdict in (found.get("media") or {}).items():
        if verdict["verdict"] == "ignored":
            parts.append(
                f"{modality} IGNORED ({verdict['prompt_tokens_without']} prompt tokens with "
                "and without it)"
            )
        elif verdict["verdict"] == "unverified":
            parts.append(f"{modality} unverified ({verdict['note']})")
    return f"{endpoint['id']} capabilities: {'; '.join(parts)}" if parts else None


def eval_rows(document: Mapping[str, Any]) -> list[list[str]]:
    """Seed 004's table, header first: pass rate per category per endpoint, the overall
    score, average response time, median input and output tokens and cost per task.
    Empty when no case has a category."""
    endpoints = [e["id"] for e in document["endpoints"]]
    evals = {e: (document["summary"].get(e) or {}).get("evals") or {} for e in endpoints}
    categories = sorted({c for found in evals.values() for c in found.get("categories") or {}})
    if not categories:
        return []

    def category(e: str, name: str) -> str:
        found = (evals[e].get("categories") or {}).get(name)
        return score_text(found) if found else "-"

    def cost(e: str) -> str:
        found = (document["summary"].get(e) or {}).get("cost") or {}
        value = found.get("per_task")
        return "n/a" if value is None else f"{value:.6g} {found.get('currency') or ''}".strip()

    rows = [["category", *endpoints]]
    rows += [[name, *(category(e, name) for e in endpoints)] for name in categories]
    rows.append(
        ["overall", *(score_text(evals[e]["overall"]) if evals[e] else "-" for e in endpoints)]
    )
    for label, key in (
        ("avg response ms", "avg_response_ms"),
        ("median input tokens", "median_input_tokens"),
        ("median output tokens", "median_output_tokens"),
    ):
        rows.append([label, *(_fmt(evals[e].get(key), "{:.0f}") for e in endpoints)])
    rows.append(["est. cost / task", *(cost(e) for e in endpoints)])
    return rows


def eval_table(document: Mapping[str, Any]) -> list[str]:
    rows = eval_rows(document)
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(t.ljust(w) for t, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return ["evals per category:", lines[0], "-+-".join("-" * w for w in widths), *lines[1:], ""]


def quality_lines(endpoint_id: str, summary: Mapping[str, Any]) -> list[str]:
    """Seed 002's quality scores: tools by call format, entity recall per group, thinking
    that used the whole budget, and cost when the endpoint has a price."""
    evals, lines = summary.get("evals") or {}, []
    if evals.get("tools"):
        lines.append(f"{endpoint_id} {tools_text(evals['tools'])}")
    if evals.get("entities"):
        groups = ", ".join(f"{g} {h}/{n}" for g, (h, n) in evals["entities"].items())
        lines.append(f"{endpoint_id} entities: {groups}")
    if evals.get("reasoning_used_budget"):
        lines.append(
            f"{endpoint_id}: {evals['reasoning_used_budget']} case(s) spent the whole token "
            "budget on reasoning and gave an empty answer"
        )
    cost = summary.get("cost") or {}
    if cost.get("basis"):
        figures = ", ".join(
            f"{_fmt(cost.get(key), '{:.6g}')} {label}"
            for key, label in (
                ("per_task", "per task"),
                ("per_passed_task", "per passed task"),
                ("per_m_output_tokens", "per 1M output tokens"),
            )
        )
        lines.append(f"{endpoint_id} cost ({cost['currency']}, {cost['basis']}): {figures}")
    return lines


def server_lines(endpoint: Mapping[str, Any]) -> list[str]:
    """A managed server's cold start, starts and log (seed 002 reports the cold start)."""
    runtime = endpoint.get("runtime") or {}
    runs = runtime.get("server_runs") or []
    if endpoint.get("launch") != "command" or not runs:
        return []
    colds = [r["cold_start_s"] for r in runs if r.get("cold_start_s") is not None]
    cold = f"cold start {colds[0]:.1f} s" if colds else "never ready"
    memory = [r["memory_mib_at_ready"] for r in runs if r.get("memory_mib_at_ready") is not None]
    if memory:
        cold += f", {memory[0]:.0f} MiB resident at ready"
    ends = ", ".join(sorted({str(r.get("stopped_by") or "still running") for r in runs}))
    group = f", gpu_group {endpoint['gpu_group']}" if endpoint.get("gpu_group") else ""
    return [
        f"{endpoint['id']} server: {cold}, {len(runs)} start(s), stopped by {ends}{group}; "
        f"log {runtime.get('server_log')}"
    ]


def render_summary(document: Mapping[str, Any]) -> list[str]:
    """The per-run table, the energy table (when any endpoint has telemetry) and
    one summary line per endpoint."""
    lines = _table(document, cell) if document["records"] else []
    lines.append("")
    lines.extend(load_table(document))
    summaries = document["summary"]
    measured = any(
        (summaries.get(e["id"]) or {}).get("telemetry", {}).get("source")
        for e in document["endpoints"]
    )
    if measured:
        lines.extend(["energy per request (mean over rounds):", *_table(document, energy_cell), ""])
    for endpoint in document["endpoints"]:
        s = document["summary"].get(endpoint["id"]) or {}
        found = capability_line(endpoint)
        if found:
            lines.append(found)
        lines.extend(server_lines(endpoint))
        if not s.get("cases"):
            continue  # a load-only run: its figures are in the load table
        hardware = f", {endpoint['hardware']}" if endpoint.get("hardware") else ""
        lines.append(
            f"{endpoint['id']} ({endpoint['model']}{hardware}): "
            f"{s.get('passed', 0)}/{s.get('passed', 0) + s.get('failed', 0) + s.get('errors', 0)}"
            f" passed, {s.get('errors', 0)} errors, {s.get('skipped', 0)} skipped; "
            f"mean {_fmt(s.get('mean_output_tok_s'), '{:.1f}')} tok/s, "
            f"latency {_fmt(s.get('mean_e2e_ms'), '{:.0f}')} ms, "
            f"TTFT {_fmt(s.get('mean_ttft_ms'), '{:.0f}')} ms"
        )
        folded = not_applicable_line(document, endpoint["id"])
        if folded:
            lines.append(folded)
        lines.extend(quality_lines(endpoint["id"], s))
        if "telemetry" in s:
            lines.append(telemetry_line(endpoint["id"], s["telemetry"]))
    lines.extend(eval_table(document))
    return lines
