"""Charts of a report as PNG bytes (matplotlib, imported only when charts are asked for).

Each chart either draws from figures the report holds or says why it cannot, so the
HTML page can show the reason in the chart's place instead of an empty frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_mmbench.report.chart import Chart, mark_missing, png, pyplot
from pytest_mmbench.report.distributions import itl_boxes, ttft_cdf
from pytest_mmbench.report.power_timeline import power_timelines
from pytest_mmbench.report.terminal import not_applicable
from pytest_mmbench.report.tradeoffs import (
    category_rates,
    energy_per_token,
    frontier_scatter,
    throughput_vs_latency,
)


def _per_case(
    document: Mapping[str, Any], summary_key: str, label: str, name: str, title: str
) -> Chart:
    endpoints = [e["id"] for e in document["endpoints"]]
    # Cases that ran somewhere; a case no endpoint could take is not a missing figure.
    cases = list(dict.fromkeys(r["case_id"] for r in document["records"] if not not_applicable(r)))
    values = {
        (r["endpoint"], r["case_id"]): ((r.get("summary") or {}).get(summary_key) or {}).get("mean")
        for r in document["records"]
    }
    if not any(v is not None for v in values.values()):
        return Chart(name, title, None, f"no case has a figure for {label}")
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(max(6.0, 1.2 * len(cases) * max(1, len(endpoints))), 3.6))
    width = 0.8 / max(1, len(endpoints))
    missing = []
    for i, endpoint in enumerate(endpoints):
        drawn = [(x + i * width, values.get((endpoint, c))) for x, c in enumerate(cases)]
        axes.bar(
            [x for x, v in drawn if v is not None],
            [v for _, v in drawn if v is not None],
            width,
            label=endpoint,
        )
        for (x, value), case in zip(drawn, cases, strict=True):
            if value is None:
                mark_missing(axes, x)
                missing.append(f"{endpoint}/{case}")
    axes.set_xticks(
        [x + width * (len(endpoints) - 1) / 2 for x in range(len(cases))],
        cases,
        rotation=20,
        ha="right",
    )
    axes.set_ylabel(label)
    axes.set_title(title)
    axes.legend(fontsize="small")
    note = f"n/a (no {label} measured): {', '.join(missing)}" if missing else None
    return Chart(name, title, png(figure), note)


def _line_chart(
    name: str,
    title: str,
    series: Mapping[str, list[tuple[float, float]]],
    xlabel: str,
    ylabel: str,
    absent: str,
) -> Chart:
    """One line per series, points sorted by x; the reason instead when there are none."""
    if not any(series.values()):
        return Chart(name, title, None, absent)
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.6))
    for label, points in series.items():
        ordered = sorted(points)
        axes.plot([x for x, _ in ordered], [y for _, y in ordered], "o-", label=label)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.legend(fontsize="small")
    return Chart(name, title, png(figure))


def _load_rows(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [row for rows in (document.get("load") or {}).values() for row in rows]


def _load_curve(document: Mapping[str, Any]) -> Chart:
    """Seed 001's curve: overall output throughput against concurrency (text points)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in _load_rows(document):
        if row.get("concurrency") and not row.get("image_size") and row.get("output_tok_s"):
            key = f"{row['endpoint']} {row['case_id']}"
            series.setdefault(key, []).append((row["concurrency"], row["output_tok_s"]))
    return _line_chart(
        "throughput_vs_concurrency",
        "Output throughput vs concurrency",
        series,
        "concurrency",
        "output tok/s (all requests)",
        "this run has no load points (run with --mm-concurrency)",
    )


def _ttft_vs_image_size(document: Mapping[str, Any]) -> Chart:
    """Seed 001's image sweep: TTFT p50 against image size, per endpoint and concurrency."""
    series: dict[str, list[tuple[float, float]]] = {}
    for row in _load_rows(document):
        ttft = (row.get("ttft_ms") or {}).get("p50")
        if row.get("image_size") and ttft is not None:
            key = f"{row['endpoint']} {row['point'].split('-img')[0]}"
            series.setdefault(key, []).append((row["image_size"], ttft))
    for record in document["records"]:  # sweep cases: <case>-<size>px, one image each
        items = (record.get("media") or {}).get("items") or []
        ttft = ((record.get("summary") or {}).get("ttft_ms") or {}).get("mean")
        if len(items) == 1 and ttft is not None and record["case_id"].endswith("px"):
            base = record["case_id"].rsplit("-", 1)[0]
            side = max(items[0]["width"], items[0]["height"])
            series.setdefault(f"{record['endpoint']} {base}", []).append((side, ttft))
    return _line_chart(
        "ttft_vs_image_size",
        "TTFT vs image size",
        series,
        "image size (px per side)",
        "TTFT p50 ms",
        "this run has no image sweep (images with size = [...], or load.image_size)",
    )


def _efficiency(document: Mapping[str, Any]) -> Chart:
    """tok/s against tok/s per watt, with the Pareto front of those two axes drawn."""
    return frontier_scatter(
        document, "efficiency_scatter", "Throughput vs efficiency", "tok_s_per_w",
        "tok/s per watt", "tok/s per watt", y_higher_is_better=True,
    )  # fmt: skip


def charts(document: Mapping[str, Any]) -> list[Chart]:
    return [
        _per_case(
            document, "output_tok_s", "output tok/s", "tok_s_per_case", "Output tok/s per case"
        ),
        _per_case(
            document, "e2e_ms", "end-to-end ms", "latency_per_case", "End-to-end latency per case"
        ),
        ttft_cdf(document),
        itl_boxes(document),
        throughput_vs_latency(document),
        _load_curve(document),
        _ttft_vs_image_size(document),
        category_rates(document),
        *power_timelines(document),
        energy_per_token(document),
        _efficiency(document),
    ]
