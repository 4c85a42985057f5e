"""How requests are spread, not just their means: TTFT as a CDF, ITL as boxes.

The TTFT CDF uses every measured request an endpoint served: each round of each case
and each completed request of each load point (the rows' request logs).  ITL boxes are
drawn from the load rows' distributions (p50 line, box to p90, whiskers min and p99),
since per-token gaps are summarised, not logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_mmbench.report.chart import Chart, png, pyplot


def _ttft_samples(document: Mapping[str, Any]) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {e["id"]: [] for e in document["endpoints"]}
    for record in document["records"]:
        for round_ in record.get("rounds") or []:
            value = (round_.get("metrics") or {}).get("ttft_ms")
            if value is not None:
                samples.setdefault(record["endpoint"], []).append(float(value))
    for endpoint, rows in (document.get("load") or {}).items():
        for row in rows:
            for request in row.get("request_log") or []:
                if request.get("error") is None and request.get("ttft_ms") is not None:
                    samples.setdefault(endpoint, []).append(float(request["ttft_ms"]))
    return samples


def ttft_cdf(document: Mapping[str, Any]) -> Chart:
    title = "TTFT distribution per endpoint (all measured requests)"
    samples = _ttft_samples(document)
    drawn = {e: sorted(v) for e, v in samples.items() if v}
    missing = [e for e, v in samples.items() if not v]
    if not drawn:
        return Chart("ttft_cdf", title, None, "no request has a TTFT (no streamed output)")
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(6, 3.6))
    for endpoint, values in drawn.items():
        shares = [(i + 1) / len(values) for i in range(len(values))]
        axes.step(values, shares, where="post", label=f"{endpoint} (n={len(values)})")
    axes.set_xlabel("TTFT ms")
    axes.set_ylabel("share of requests")
    axes.set_ylim(0, 1.02)
    axes.set_title(title)
    axes.legend(fontsize="small")
    note = f"n/a (no TTFT measured): {', '.join(missing)}" if missing else None
    return Chart("ttft_cdf", title, png(figure), note)


def itl_boxes(document: Mapping[str, Any]) -> Chart:
    title = "Inter-token latency per load point (line p50, box to p90, whiskers min and p99)"
    boxes, missing = [], []
    for endpoint, rows in (document.get("load") or {}).items():
        for row in rows:
            itl = row.get("itl_ms") or {}
            label = f"{endpoint}\n{row['case_id']}/{row['point']}"
            if itl.get("p50") is None:
                missing.append(label.replace("\n", " "))
                continue
            boxes.append(
                {
                    "label": label,
                    "med": itl["p50"],
                    "q1": itl["p50"],
                    "q3": itl.get("p90", itl["p50"]),
                    "whislo": itl.get("min", itl["p50"]),
                    "whishi": itl.get("p99", itl["p50"]),
                    "fliers": [],
                }
            )
    if not boxes:
        reason = "this run has no load points with streamed tokens (run with --mm-concurrency)"
        return Chart("itl_boxes", title, None, reason)
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(boxes)), 3.6))
    axes.bxp(boxes, showfliers=False)
    axes.set_ylabel("ITL ms")
    axes.set_title(title)
    axes.tick_params(axis="x", labelsize="small")
    note = f"n/a (no ITL): {', '.join(missing)}" if missing else None
    return Chart("itl_boxes", title, png(figure), note)
