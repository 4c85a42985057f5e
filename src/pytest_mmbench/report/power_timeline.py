"""Power over time per endpoint, every measured window shaded and labelled.

The chart that shows energy per request is real: the line is what the GPUs drew for
the whole run, the dashed line is the idle baseline measured before the first case,
and each shaded span is one measured window (a case's round, a load point, the idle
window itself).  Consecutive windows of one case are one group, labelled with the
case and the energy its windows used above idle.  A window's energy is the figure the
record holds (energy counter or integrated power), not one re-derived from the drawn
points, which are downsampled.  Points without a power reading are gaps.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_mmbench.report.chart import Chart, png, pyplot

NAMED_GROUPS = 40  # beyond this, groups are numbered on the chart and named in the table
MIN_TEMP_SPAN_C = 20.0


@dataclass
class WindowGroup:
    """Consecutive windows of one case or load point on one trace."""

    label: str
    kind: str
    spans: list[tuple[float, float]] = field(default_factory=list)
    energy_j: float | None = 0.0
    above_idle_j: float | None = 0.0
    missing: str | None = None

    @property
    def start_s(self) -> float:
        return self.spans[0][0]

    @property
    def seconds(self) -> float:
        return sum(end - start for start, end in self.spans)

    def add(self, window: Mapping[str, Any]) -> None:
        self.spans.append((window["start_s"], window["end_s"]))
        self.energy_j = _add(self.energy_j, window.get("energy_j"))
        self.above_idle_j = _add(self.above_idle_j, window.get("energy_above_idle_j"))
        if window.get("missing") and self.missing is None:
            self.missing = str(window["missing"])

    def energy_text(self) -> str:
        if self.kind == "idle":
            return "idle baseline"
        if self.above_idle_j is None:
            return f"n/a ({self.missing or 'no energy figure'})"
        return f"{self.above_idle_j:+.1f} J above idle"


def _add(total: float | None, value: Any) -> float | None:
    return None if total is None or value is None else total + float(value)


def window_groups(trace: Mapping[str, Any]) -> list[WindowGroup]:
    groups: list[WindowGroup] = []
    for window in trace.get("windows") or []:
        last = groups[-1] if groups else None
        if last is None or (last.label, last.kind) != (window["label"], window["kind"]):
            last = WindowGroup(window["label"], window["kind"])
            groups.append(last)
        last.add(window)
    return groups


def _missing_reason(document: Mapping[str, Any], endpoint_id: str) -> str:
    telemetry = (document["summary"].get(endpoint_id) or {}).get("telemetry") or {}
    reasons = list((telemetry.get("missing") or {}).values())
    return str(reasons[0]) if reasons else "its telemetry never started"


def power_timelines(document: Mapping[str, Any]) -> list[Chart]:
    """One chart per endpoint with a timeline; one note naming those without and why."""
    drawn, missing = [], []
    for endpoint in document["endpoints"]:
        traces = [t for t in endpoint.get("power_timeline") or [] if t.get("t_s")]
        if not traces:
            missing.append(f"{endpoint['id']} ({_missing_reason(document, endpoint['id'])})")
        elif not any(p is not None for t in traces for p in t["power_w"]):
            points = sum(len(t["t_s"]) for t in traces)
            missing.append(f"{endpoint['id']} (no power reading in {points} points)")
        else:
            drawn.append(_chart(endpoint["id"], traces))
    if missing:
        title = "Power over time"
        drawn.append(
            Chart(
                "power_timeline", title, None, "no power timeline: " + "; ".join(missing), "energy"
            )
        )
    return drawn


def _chart(endpoint_id: str, traces: Sequence[Mapping[str, Any]]) -> Chart:
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(11, 3.8))
    origin = min(t["start_epoch_s"] for t in traces)
    palette = plt.get_cmap("tab10")
    colours: dict[str, Any] = {}
    groups_drawn = 0
    total = sum(len(window_groups(t)) for t in traces)
    for trace in traces:
        shift = trace["start_epoch_s"] - origin
        who = f" ({trace['worker']})" if trace.get("worker") else ""
        axes.plot(
            [t + shift for t in trace["t_s"]],
            [math.nan if p is None else p for p in trace["power_w"]],
            linewidth=1,
            color="#1d2433",
            label=f"power W{who}",
        )
        for group in window_groups(trace):
            groups_drawn += 1
            colour = (
                "#999999"
                if group.kind == "idle"
                else colours.setdefault(group.label, palette(len(colours) % 10))
            )
            for start, end in group.spans:
                axes.axvspan(start + shift, end + shift, color=colour, alpha=0.22, linewidth=0)
            text = str(groups_drawn)
            if total <= NAMED_GROUPS:
                text = f"{group.label[:28]}: {group.energy_text()}"
            axes.annotate(
                text,
                xy=(group.start_s + shift + group.seconds / 2, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 3),
                textcoords="offset points",
                rotation=90,
                ha="center",
                va="bottom",
                fontsize=7,
                color=colour,
            )
    idle = next((t["idle_power_w"] for t in traces if t.get("idle_power_w") is not None), None)
    if idle is not None:
        axes.axhline(idle, linestyle="--", linewidth=1, color="#555555", label=f"idle {idle:.0f} W")
    axes.set_xlabel("seconds since telemetry started")
    axes.set_ylabel("power W (all GPUs of the endpoint)")
    axes.set_ylim(bottom=0)
    temps = [t for t in traces if t.get("temp_c")]
    if temps:
        twin = axes.twinx()
        for trace in temps:
            shift = trace["start_epoch_s"] - origin
            twin.plot(
                [t + shift for t in trace["t_s"]],
                [math.nan if c is None else c for c in trace["temp_c"]],
                linewidth=0.8,
                linestyle=":",
                color="#c05000",
            )
        twin.set_ylabel("hottest GPU C (dotted)", color="#c05000")
        low, high = twin.get_ylim()  # a 1 C wobble should not look like a square wave
        middle = (low + high) / 2
        twin.set_ylim(
            min(low, middle - MIN_TEMP_SPAN_C / 2), max(high, middle + MIN_TEMP_SPAN_C / 2)
        )
    axes.legend(fontsize="small", loc="lower right")
    samples = sum(t["samples"] for t in traces)
    title = f"Power over time: {endpoint_id} ({samples} samples, {total} window groups)"
    note = (
        "Unshaded stretches are outside this endpoint's measured windows: between cases, "
        "or another endpoint working on the same GPUs."
    )
    if total > NAMED_GROUPS:
        note += " Windows are numbered on the chart; the table above names each number."
    dropped = sum(t.get("windows_dropped") or 0 for t in traces)
    if dropped:
        note += f" {dropped} windows beyond the kept limit are not shown."
    return Chart(f"power_timeline_{endpoint_id}", title, png(figure), note, "energy")
