"""Named figures that rules, requirements and frontiers refer to, with their good direction.

One registry so that ``--mm-fail-on="tok_s:-10%"``, ``--mm-require="tok_s>=40"`` and
``[frontier.x] maximize = ["tok_s"]`` all mean the same number, read from the same
place of a report, and know whether more is better.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pytest_mmbench.modalities import MARKER_MODALITY


@dataclass(frozen=True)
class Figure:
    name: str
    higher_is_better: bool
    unit: str
    summary_key: str | None = None  # per-case: records[].summary[<key>].mean
    description: str = ""


# Per (endpoint, case): taken from a record's summary (mean over rounds).
CASE_FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure("tok_s", True, "tok/s", "output_tok_s", "output tokens / end-to-end time"),
        Figure(
            "decode_tok_s", True, "tok/s", "decode_tok_s", "generation rate after the first token"
        ),
        Figure("ttft_ms", False, "ms", "ttft_ms", "time to first token"),
        Figure("latency_ms", False, "ms", "e2e_ms", "end-to-end latency"),
        Figure("tpot_ms", False, "ms", "tpot_ms", "time per output token"),
        Figure("itl_p99_ms", False, "ms", "itl_p99_ms", "99th percentile inter-token latency"),
        Figure("output_tokens", True, "tokens", "output_tokens", "output length"),
        Figure("energy_j", False, "J", "energy_j", "energy per request"),
        Figure("j_per_token", False, "J/tok", "j_per_output_token", "energy per output token"),
        Figure("tok_s_per_w", True, "tok/s/W", "tok_s_per_w", "output tok/s per watt"),
        Figure("power_w", False, "W", "avg_power_w", "average power during the request"),
        Figure("passed", True, "", None, "1 when the case passed its check, else 0"),
    )
}

# Per endpoint: taken from summary.<endpoint> (and its telemetry) or the endpoint itself.
ENDPOINT_FIGURES: dict[str, Figure] = {
    f.name: f
    for f in (
        Figure("tok_s", True, "tok/s", description="mean output tok/s over its cases"),
        Figure("ttft_ms", False, "ms", description="mean TTFT over its cases"),
        Figure("latency_ms", False, "ms", description="mean end-to-end latency"),
        Figure("pass_rate", True, "", description="passed / (passed + failed + errors)"),
        Figure("tok_s_per_w", True, "tok/s/W", description="mean tok/s / avg inference power"),
        Figure("power_w", False, "W", description="average inference power"),
        Figure("j_per_token", False, "J/tok", description="mean J per output token over cases"),
        Figure("idle_power_w", False, "W", description="idle power"),
        Figure("peak_power_w", False, "W", description="peak power"),
        Figure("avg_temp_c", False, "C", description="average GPU temperature"),
        Figure("peak_temp_c", False, "C", description="peak GPU temperature"),
        Figure("mem_gb", False, "GiB", description="peak GPU memory (baseline if no peak)"),
        Figure("context_window", True, "tokens", description="context window from hosts.toml"),
        Figure("modalities", True, "", description="number of modalities the endpoint accepts"),
        Figure("tools", True, "", description="tool cases passed, any call format (share)"),
        Figure("tools_structured", True, "", description="tool cases passed with structured calls"),
        Figure("cost_per_task", False, "", description="mean estimated cost of a measured case"),
        Figure("cost_per_passed_task", False, "", description="total cost / passed cases"),
        Figure("cost_per_m_output_tokens", False, "", description="cost per 1M output tokens"),
    )
}

# Families named with a dot: category.<slug> (pass rate of one eval category) and
# entities.<group> (recall of one entity group over the extraction cases).
SHARE_FAMILIES = {
    "category": "pass rate of the cases with that category",
    "entities": "recall of that entity group, summed over extraction cases",
}


def case_value(record: Mapping[str, Any], name: str) -> tuple[float | None, str | None]:
    """(value, reason-if-missing) of a per-case figure."""
    figure = CASE_FIGURES[name]
    if name == "passed":
        if record["status"] in ("passed", "failed"):
            return (1.0 if record["status"] == "passed" else 0.0), None
        return None, f"case {record['status']}"
    summary = (record.get("summary") or {}).get(figure.summary_key or "") or {}
    value = summary.get("mean")
    if value is None:
        return None, _case_reason(record, figure.summary_key or name)
    return float(value), None


def case_spread(record: Mapping[str, Any], name: str) -> tuple[float | None, int]:
    """(stddev, rounds) of a per-case figure, for the noise test."""
    figure = CASE_FIGURES[name]
    summary = (record.get("summary") or {}).get(figure.summary_key or "") or {}
    return summary.get("stddev"), int(summary.get("n") or 0)


def endpoint_value(
    document: Mapping[str, Any], endpoint_id: str, name: str, marker: str | None = None
) -> tuple[float | None, str | None]:
    """(value, reason-if-missing) of an endpoint figure; ``marker`` limits to one modality."""
    endpoint = next((e for e in document["endpoints"] if e["id"] == endpoint_id), None)
    if endpoint is None:
        return None, f"no endpoint {endpoint_id}"
    if name == "context_window":
        value = endpoint.get("context_window")
        return (float(value), None) if value is not None else (None, "context_window not set")
    if name == "modalities":
        return float(len(endpoint.get("modalities") or [])), None
    if marker is not None:
        return _marker_value(document, endpoint_id, name, marker)
    summary = (document.get("summary") or {}).get(endpoint_id) or {}
    evals = summary.get("evals") or {}
    if "." in name:
        family, member = name.split(".", 1)
        if family in SHARE_FAMILIES:
            return _family_value(evals, name)
        return _marker_value(document, endpoint_id, member, family)
    if name in ("tools", "tools_structured"):
        tools = evals.get("tools")
        if not tools or not tools["total"]:
            return None, "no tool-calling case was decided"
        passed = tools["passed"] if name == "tools" else tools["structured"]
        return passed / tools["total"], None
    if name.startswith("cost_"):
        cost = summary.get("cost") or {}
        key = name.removeprefix("cost_")
        value = cost.get(key)
        if value is None:
            return None, str((cost.get("missing") or {}).get(key) or "no cost figure")
        return float(value), None
    telemetry = summary.get("telemetry") or {}
    if name == "j_per_token":
        value, _ = _mean_over_cases(document, endpoint_id, name, None)
        if value is None:
            return None, _telemetry_reason(telemetry, "energy_j")
        return value, None
    keys = {
        "tok_s": (summary, "mean_output_tok_s"),
        "ttft_ms": (summary, "mean_ttft_ms"),
        "latency_ms": (summary, "mean_e2e_ms"),
        "pass_rate": (summary, "pass_rate"),
        "tok_s_per_w": (telemetry, "tok_s_per_w"),
        "power_w": (telemetry, "avg_inference_power_w"),
        "idle_power_w": (telemetry, "idle_power_w"),
        "peak_power_w": (telemetry, "peak_power_w"),
        "avg_temp_c": (telemetry, "avg_temp_c"),
        "peak_temp_c": (telemetry, "peak_temp_c"),
    }
    if name == "mem_gb":
        mib = telemetry.get("peak_mem_mib") or telemetry.get("baseline_mem_mib")
        if mib is None:
            return None, _telemetry_reason(telemetry, "peak_mem_mib")
        return float(mib) / 1024, None
    source, key = keys[name]
    value = source.get(key)
    if value is None:
        reason = _telemetry_reason(telemetry, key) if source is telemetry else "no measured case"
        return None, reason
    return float(value), None


def _family_value(evals: Mapping[str, Any], name: str) -> tuple[float | None, str | None]:
    family, member = name.split(".", 1)
    if family == "category":
        found = (evals.get("categories") or {}).get(member)
        if not found or not found["total"]:
            return None, f"no decided case with category {member!r}"
        return float(found["rate"]), None
    hits_total = (evals.get("entities") or {}).get(member)
    if not hits_total or not hits_total[1]:
        return None, f"no extraction case scored entity group {member!r}"
    return hits_total[0] / hits_total[1], None


def _marker_value(
    document: Mapping[str, Any], endpoint_id: str, name: str, marker: str
) -> tuple[float | None, str | None]:
    """Mean of a per-case figure over one modality's cases (e.g. ``audio.tok_s``)."""
    if name not in CASE_FIGURES:
        return None, f"{marker}.{name}: only per-case figures can be limited to a modality"
    return _mean_over_cases(document, endpoint_id, name, marker)


def _mean_over_cases(
    document: Mapping[str, Any], endpoint_id: str, name: str, marker: str | None
) -> tuple[float | None, str | None]:
    values = []
    for record in document["records"]:
        if record["endpoint"] == endpoint_id and marker in (None, record["marker"]):
            value, _ = case_value(record, name)
            if value is not None:
                values.append(value)
    if not values:
        return None, f"no measured {marker} case"
    return sum(values) / len(values), None


def known_axis(name: str) -> bool:
    """``tok_s``, ``peak_temp_c`` or a modality-limited per-case figure like ``audio.tok_s``."""
    if "." in name:
        family, figure = name.split(".", 1)
        if family in SHARE_FAMILIES:
            return bool(figure)
        return family in MARKER_MODALITY and figure in CASE_FIGURES
    return name in ENDPOINT_FIGURES


def axis_higher_is_better(name: str) -> bool:
    if "." in name:
        family, figure = name.split(".", 1)
        return family in SHARE_FAMILIES or CASE_FIGURES[figure].higher_is_better
    return ENDPOINT_FIGURES[name].higher_is_better


def _case_reason(record: Mapping[str, Any], key: str) -> str:
    if record["status"] in ("skipped", "error"):
        return f"case {record['status']}"
    for round_ in record.get("rounds") or ():
        for section in ("metrics", "telemetry"):
            reason = ((round_.get(section) or {}).get("missing") or {}).get(key)
            if reason:
                return str(reason)
    return "not measured"


def _telemetry_reason(telemetry: Mapping[str, Any], key: str) -> str:
    missing = telemetry.get("missing") or {}
    return str(missing.get(key) or next(iter(missing.values()), "no telemetry"))


def share_counts(document: Mapping[str, Any], endpoint_id: str, name: str) -> str:
    """The counts behind a share figure ("7/8"), so a decision row reads like seed 002's."""
    evals = ((document.get("summary") or {}).get(endpoint_id) or {}).get("evals") or {}
    pair: tuple[int, int] | None = None
    if name in ("tools", "tools_structured") and evals.get("tools"):
        tools = evals["tools"]
        pair = (tools["passed"] if name == "tools" else tools["structured"], tools["total"])
    elif name.startswith("category."):
        found = (evals.get("categories") or {}).get(name.split(".", 1)[1])
        pair = (found["passed"], found["total"]) if found else None
    elif name.startswith("entities."):
        found = (evals.get("entities") or {}).get(name.split(".", 1)[1])
        pair = (found[0], found[1]) if found else None
    return f"{pair[0]}/{pair[1]}" if pair and pair[1] else ""
