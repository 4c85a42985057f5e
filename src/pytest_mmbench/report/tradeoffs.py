"""Trade-off charts: what one endpoint gives up for another.

- Throughput against latency per load sweep, one curve per endpoint: total output tok/s
  against what one user sees (per-request tok/s, and TTFT p99), the view vLLM's
  ``plot_pareto`` and AIPerf's Pareto plots give.
- J per output token against tok/s, with the frontier drawn and dominated endpoints
  named in the note.
- Pass rate per category per endpoint, where cases have categories.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_mmbench.figures import endpoint_value
from pytest_mmbench.report.chart import Chart, mark_missing, png, pyplot


def throughput_vs_latency(document: Mapping[str, Any]) -> Chart:
    title = "Throughput vs per-user speed and TTFT p99, per load sweep"
    curves: dict[str, list[tuple[float, float, float | None, str]]] = {}
    missing = []
    for endpoint, rows in (document.get("load") or {}).items():
        for row in rows:
            per_user = (row.get("request_output_tok_s") or {}).get("p50")
            total = row.get("output_tok_s")
            if per_user is None or total is None:
                missing.append(f"{endpoint} {row['case_id']}/{row['point']}")
                continue
            ttft = (row.get("ttft_ms") or {}).get("p99")
            key = f"{endpoint} {row['case_id']}"
            curves.setdefault(key, []).append((per_user, total, ttft, row["point"]))
    if not curves:
        reason = "this run has no completed load points (run with --mm-concurrency)"
        return Chart("throughput_vs_latency", title, None, reason)
    plt = pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for label, points in curves.items():
        ordered = sorted(points, key=lambda p: p[0])
        (line,) = left.plot([p[0] for p in ordered], [p[1] for p in ordered], "o-", label=label)
        for per_user, total, _, point in ordered:
            left.annotate(point, (per_user, total), xytext=(4, 4), textcoords="offset points",
                          fontsize="x-small")  # fmt: skip
        with_ttft = sorted((p for p in points if p[2] is not None), key=lambda p: p[2] or 0)
        right.plot([p[2] for p in with_ttft], [p[1] for p in with_ttft], "o-",
                   color=line.get_color(), label=label)  # fmt: skip
    left.set_xlabel("per-request output tok/s (p50)")
    left.set_ylabel("total output tok/s")
    right.set_xlabel("TTFT p99 ms")
    right.set_ylabel("total output tok/s")
    left.legend(fontsize="small")
    figure.suptitle(title)
    note = f"n/a (not completed): {', '.join(missing)}" if missing else None
    return Chart("throughput_vs_latency", title, png(figure), note)


def energy_per_token(document: Mapping[str, Any]) -> Chart:
    """J per output token (lower is better) against tok/s (higher is better)."""
    return frontier_scatter(
        document, "energy_per_token", "Energy per output token vs tok/s", "j_per_token",
        "J per output token", "J per token", y_higher_is_better=False,
    )  # fmt: skip


def frontier_scatter(
    document: Mapping[str, Any],
    name: str,
    title: str,
    y_figure: str,
    y_label: str,
    y_short: str,
    y_higher_is_better: bool,
) -> Chart:
    """An endpoint figure against tok/s, one point per endpoint, with the frontier of these
    two axes drawn and the dominated endpoints named in the note."""
    title = f"{title} (frontier of these two axes)"
    points, reasons = [], []
    for endpoint in document["endpoints"]:
        tok_s, why = endpoint_value(document, endpoint["id"], "tok_s")
        y, why_y = endpoint_value(document, endpoint["id"], y_figure)
        if tok_s is None or y is None:
            reasons.append(f"{endpoint['id']}: {why or why_y}")
        else:
            points.append((endpoint["id"], tok_s, y if y_higher_is_better else -y, y))
    if not points:
        reason = f"no endpoint has both tok/s and {y_short} (" + "; ".join(reasons) + ")"
        return Chart(name, title, None, reason, section="energy")
    # p[2] is the y figure turned so that higher is better.
    dominated = {
        p[0]: [q[0] for q in points if q[1] >= p[1] and q[2] >= p[2] and q[1:3] != p[1:3]]
        for p in points
    }
    front = sorted((p for p in points if not dominated[p[0]]), key=lambda p: p[1])
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.6))
    for endpoint, x, _, y in points:
        axes.scatter([x], [y], s=60, zorder=3, marker="x" if dominated[endpoint] else "o")
        axes.annotate(endpoint, (x, y), textcoords="offset points", xytext=(5, 5), fontsize="small")
    axes.step([p[1] for p in front], [p[3] for p in front], where="post" if y_higher_is_better
              else "pre", color="grey", linestyle="--", label="frontier", zorder=2)  # fmt: skip
    axes.set_xlabel("output tok/s")
    axes.set_ylabel(y_label)
    axes.set_title(title)
    axes.legend(fontsize="small")
    notes = [f"{e} is dominated by {', '.join(by)}" for e, by in dominated.items() if by]
    notes += [f"left out {r}" for r in reasons]
    return Chart(name, title, png(figure), "; ".join(notes) or None, section="energy")


def category_rates(document: Mapping[str, Any]) -> Chart:
    title = "Pass rate per category"
    endpoints = [e["id"] for e in document["endpoints"]]
    found = {
        e: ((document["summary"].get(e) or {}).get("evals") or {}).get("categories") or {}
        for e in endpoints
    }
    categories = sorted({c for per in found.values() for c in per})
    if not categories:
        return Chart("category_rates", title, None, "no case has a category", section="quality")
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(max(6.0, 1.3 * len(categories) * len(endpoints)), 3.6))
    width = 0.8 / len(endpoints)
    missing = []
    for i, endpoint in enumerate(endpoints):
        for x, category in enumerate(categories):
            score = found[endpoint].get(category)
            position = x + i * width
            if not score or not score.get("total"):
                mark_missing(axes, position)
                missing.append(f"{endpoint}/{category}")
                continue
            share = score["passed"] / score["total"]
            axes.bar([position], [100 * share], width, color=f"C{i}",
                     label=endpoint if x == 0 else None)  # fmt: skip
            axes.annotate(f"{score['passed']}/{score['total']}", (position, 100 * share),
                          xytext=(0, 2), textcoords="offset points", ha="center",
                          fontsize="x-small")  # fmt: skip
    axes.set_xticks([x + width * (len(endpoints) - 1) / 2 for x in range(len(categories))])
    axes.set_xticklabels(categories, rotation=20, ha="right")
    axes.set_ylabel("% passed")
    axes.set_ylim(0, 110)
    axes.set_title(title)
    axes.legend(fontsize="small")
    note = f"n/a (no case of that category ran): {', '.join(missing)}" if missing else None
    return Chart("category_rates", title, png(figure), note, section="quality")
