"""Gate, requirements and frontier as pure functions over report documents."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from pytest_mmbench.decide.frontier import DEFAULT_REGIMES, RegimeError, frontier, parse_regime
from pytest_mmbench.decide.gate import (
    RuleError,
    check_requirements,
    compare,
    parse_requirements,
    parse_rules,
)


def record(endpoint: str, case: str, status: str = "passed", **figures: Any) -> dict[str, Any]:
    """A report record whose summary holds (mean, stddev, n) per figure."""
    summary = {
        key: {"mean": mean, "stddev": sd, "min": None, "max": None, "n": n}
        for key, (mean, sd, n) in figures.items()
    }
    return {
        "endpoint": endpoint,
        "case_id": case,
        "marker": "text",
        "status": status,
        "summary": summary,
        "rounds": [],
    }


def report(*records: dict[str, Any]) -> dict[str, Any]:
    return {"endpoints": [], "records": list(records), "summary": {}}


def test_rules_name_the_bad_direction() -> None:
    rules = parse_rules("tok_s:-10%, ttft_ms:+20%,energy_j:+15%,passed:-0,latency_ms:+50")
    assert [(r.figure, r.amount, r.percent) for r in rules] == [
        ("tok_s", 10, True),
        ("ttft_ms", 20, True),
        ("energy_j", 15, True),
        ("passed", 0, False),
        ("latency_ms", 50, False),
    ]
    assert rules[0].text == "-10%" and rules[1].text == "+20%"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tok_s:+10%", "tok_s gets worse when it falls, so write tok_s:-10%"),
        ("ttft_ms:-20%", "ttft_ms gets worse when it rises, so write ttft_ms:+20%"),
        ("speed:-10%", "unknown figure 'speed'"),
        ("tok_s>=10", "cannot read rule"),
    ],
)
def test_bad_rules_say_how_to_write_them(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        parse_rules(text)


def test_verdicts() -> None:
    old = report(
        record("gemma", "qa", output_tok_s=(41.1, 0.1, 3), ttft_ms=(100.0, 1.0, 3)),
        record("gemma", "noisy", output_tok_s=(40.0, 3.0, 3)),
        record("gemma", "gone", output_tok_s=(40.0, None, 1)),
        record("gemma", "broke", status="passed", output_tok_s=(40.0, None, 1)),
    )
    new = report(
        record("gemma", "qa", output_tok_s=(30.2, 0.1, 3), ttft_ms=(105.0, 1.0, 3)),
        record("gemma", "noisy", output_tok_s=(34.0, 3.5, 3)),  # -15%, but t = 2.25 < 2.80
        record("gemma", "broke", status="failed", output_tok_s=(40.0, None, 1)),
        record("gemma", "fresh", output_tok_s=(40.0, None, 1)),
    )
    result = compare(old, new, parse_rules("tok_s:-10%,ttft_ms:+20%,passed:-0"))
    rows = {(r.case_id, r.figure): r for r in result.rows}
    qa = rows[("qa", "tok_s")]
    assert qa.verdict == "FAIL"
    assert qa.line() == "FAIL gemma/qa: tok_s 41.1 -> 30.2 (-26.5%, limit -10%)"
    assert rows[("qa", "ttft_ms")].verdict == "ok"
    assert rows[("noisy", "tok_s")].verdict == "within noise"
    assert "Welch" in rows[("noisy", "tok_s")].note
    assert rows[("broke", "passed")].verdict == "FAIL"
    assert rows[("noisy", "ttft_ms")].verdict == "n/a"  # no TTFT in either run
    assert result.new_cases == ["gemma/fresh"] and result.vanished_cases == ["gemma/gone"]
    assert result.failed


def test_case_data_overrides_a_rule() -> None:
    old = report(record("e", "slow-case", output_tok_s=(40.0, None, 1)))
    new = report(record("e", "slow-case", output_tok_s=(34.0, None, 1)))
    new["records"][0]["gate"] = {"tok_s": "-20%"}
    (row,) = compare(old, new, parse_rules("tok_s:-10%")).rows
    assert row.verdict == "ok" and row.limit == "-20%"


def test_unchanged_report_passes() -> None:
    old = report(record("e", "c", output_tok_s=(40.0, 0.5, 3), ttft_ms=(90.0, 2.0, 3)))
    result = compare(old, copy.deepcopy(old), parse_rules("tok_s:-0%,ttft_ms:+0%"))
    assert not result.failed and {r.verdict for r in result.rows} == {"ok"}


def seed000_report() -> dict[str, Any]:
    """Seed 000's three deployments, with the figures the paper reports."""

    def endpoint(eid: str, modalities: list[str], ctx: int) -> dict[str, Any]:
        return {"id": eid, "modalities": modalities, "context_window": ctx}

    def summary(
        tok_s: float, latency_s: float, per_watt: float, peak_temp: float, power: float
    ) -> dict[str, Any]:
        return {
            "mean_output_tok_s": tok_s,
            "mean_e2e_ms": latency_s * 1000,
            "mean_ttft_ms": None,
            "pass_rate": 1.0,
            "telemetry": {
                "tok_s_per_w": per_watt,
                "peak_temp_c": peak_temp,
                "avg_inference_power_w": power,
                "missing": {},
            },
        }

    def audio(eid: str, case: str, tok_s: float, latency_s: float) -> dict[str, Any]:
        rec = record(eid, case, output_tok_s=(tok_s, None, 1), e2e_ms=(latency_s * 1000, None, 1))
        rec["marker"] = "audio"
        return rec

    return {
        "endpoints": [
            endpoint("gemma-3090", ["text", "image", "audio", "video"], 131072),
            endpoint("phi4-3090", ["text", "image", "audio"], 131072),
            endpoint("qwen-gb10", ["text", "image"], 262144),
        ],
        "summary": {
            "gemma-3090": summary(41.1, 2.78, 0.20, 61, 204.8),
            "phi4-3090": summary(33.9, 3.76, 0.22, 58, 156.5),
            "qwen-gb10": summary(15.2, 8.73, 0.59, 51, 25.8),
        },
        "records": [
            audio("gemma-3090", "transcription", 13.9, 0.44),
            audio("gemma-3090", "audio-qa", 44.0, 1.38),
            audio("phi4-3090", "transcription", 33.4, 6.13),
            audio("phi4-3090", "audio-qa", 33.4, 5.02),
        ],
    }


def test_seed000_frontier_per_regime() -> None:
    results = {r.regime["name"]: r for r in frontier(seed000_report(), DEFAULT_REGIMES)}
    general = results["general-workstation"]
    assert general.frontier == ["gemma-3090"]
    assert general.dominated == {
        "phi4-3090": ["gemma-3090"],
        "qwen-gb10": ["gemma-3090", "phi4-3090"],
    }
    edge = results["edge-efficiency"]
    assert edge.frontier == ["qwen-gb10"]
    assert edge.dominated == {"gemma-3090": ["phi4-3090", "qwen-gb10"], "phi4-3090": ["qwen-gb10"]}
    audio = results["audio-pipeline"]
    # Phi-4 has the better audio token rate, Gemma the lower audio latency: both survive.
    assert audio.frontier == ["gemma-3090", "phi4-3090"] and audio.dominated == {}
    assert audio.not_eligible == {"qwen-gb10": "does not accept audio"}


def test_missing_axis_is_excluded_with_a_reason_not_guessed() -> None:
    document = seed000_report()
    document["summary"]["qwen-gb10"]["telemetry"] = {
        "missing": {"tok_s_per_w": "remote endpoint (spark): no exporter configured"}
    }
    edge = next(
        r for r in frontier(document, DEFAULT_REGIMES) if r.regime["name"] == "edge-efficiency"
    )
    assert edge.excluded_axes["qwen-gb10"]["tok_s_per_w"].startswith("remote endpoint")
    assert "peak_temp_c" in edge.excluded_axes["qwen-gb10"]
    # On the one axis left to compare (context window) Qwen still beats both.
    assert edge.frontier == ["qwen-gb10"]


def test_requirements_table() -> None:
    document = seed000_report()
    rows = check_requirements(
        document,
        parse_requirements("tok_s>=40,ttft_ms<=200"),
        {"qwen-gb10": parse_requirements("tok_s>=10")},
    )
    by = {(r.endpoint, r.requirement): r for r in rows}
    assert by[("gemma-3090", "tok_s>=40")].verdict == "PASS"
    assert by[("phi4-3090", "tok_s>=40")].verdict == "FAIL"
    assert by[("qwen-gb10", "tok_s>=10")].verdict == "PASS"  # per-endpoint override
    assert ("qwen-gb10", "tok_s>=40") not in by
    missing = by[("gemma-3090", "ttft_ms<=200")]
    assert missing.verdict == "MISSING" and missing.measured is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"maximize": ["speed"]}, "unknown figure 'speed'"),
        ({"maximize": ["tok_s"], "needs": ["smell"]}, "unknown modality 'smell'"),
        ({"needs": ["audio"]}, "at least one figure"),
        ({"maximize": "tok_s"}, "must be a list"),
        ({"maximise": ["tok_s"]}, "unknown"),
    ],
)
def test_bad_regimes(table: dict[str, Any], message: str) -> None:
    with pytest.raises(RegimeError, match=message):
        parse_regime("x", table)
