"""Charts draw what was measured and say n/a for the rest: a null is never a zero bar."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("matplotlib")

from pytest_mmbench.report import chart as chart_module
from pytest_mmbench.report import plots, tradeoffs


def record(endpoint: str, case: str, tok_s: float | None, status: str = "passed") -> dict:
    summary = {"output_tok_s": {"mean": tok_s}, "e2e_ms": {"mean": 100.0}}
    rounds = [{"metrics": {"ttft_ms": 50.0 + len(case)}}] if tok_s is not None else []
    return {"endpoint": endpoint, "case_id": case, "marker": "text", "status": status,
            "summary": summary, "rounds": rounds, "skip_reason": None}  # fmt: skip


def document() -> dict[str, Any]:
    return {
        "endpoints": [{"id": "a"}, {"id": "b"}],
        "records": [
            record("a", "qa", 40.0),
            record("b", "qa", None, status="error"),  # b produced no figure
            record("a", "sum", 30.0),
            record("b", "sum", 20.0),
            {**record("a", "img", None, "skipped"), "skip_reason": "a does not accept image"},
            {**record("b", "img", None, "skipped"), "skip_reason": "b does not accept image"},
        ],
        "summary": {
            "a": {"evals": {"categories": {"ocr": {"passed": 3, "total": 4, "rate": 0.75}}}},
            "b": {"evals": {"categories": {}}},
        },
        "load": {
            "a": [
                {"endpoint": "a", "case_id": "chat", "point": "c1", "concurrency": 1,
                 "output_tok_s": 20.0,
                 "request_output_tok_s": {"p50": 20.0}, "ttft_ms": {"p50": 90, "p99": 120},
                 "itl_ms": {"p50": 10, "p90": 12, "p99": 15, "min": 9},
                 "request_log": [{"ttft_ms": 100.0, "error": None}]},
                {"endpoint": "a", "case_id": "chat", "point": "c4", "concurrency": 4,
                 "output_tok_s": 60.0,
                 "request_output_tok_s": {"p50": 15.0}, "ttft_ms": {"p50": 200, "p99": 400},
                 "itl_ms": {"p50": None}, "request_log": []},
            ]
        },
    }  # fmt: skip


@pytest.fixture
def figures(monkeypatch) -> list[Any]:
    """Keep each matplotlib figure instead of its PNG, so the test can read what was drawn."""
    kept: list[Any] = []

    def keep(figure: Any) -> bytes:
        kept.append(figure)
        return b"png"

    for module in (plots, tradeoffs, chart_module):
        monkeypatch.setattr(module, "png", keep, raising=False)
    from pytest_mmbench.report import distributions

    monkeypatch.setattr(distributions, "png", keep)
    return kept


def bar_heights(figure: Any) -> list[float]:
    return [patch.get_height() for ax in figure.axes for patch in ax.patches]


def test_a_missing_case_figure_is_marked_not_drawn_as_zero(figures) -> None:
    chart = plots._per_case(document(), "output_tok_s", "output tok/s", "tok", "tok/s")
    assert bar_heights(figures[-1]) == [40.0, 30.0, 20.0]  # no bar for b/qa, none at 0
    texts = [t.get_text() for ax in figures[-1].axes for t in ax.texts]
    assert texts.count("n/a") == 1
    assert chart.reason == "n/a (no output tok/s measured): b/qa"
    labels = [t.get_text() for t in figures[-1].axes[0].get_xticklabels()]
    assert labels == ["qa", "sum"]  # a case no endpoint could take is not a missing figure


def test_category_with_no_cases_is_na_not_zero(figures) -> None:
    chart = tradeoffs.category_rates(document())
    assert bar_heights(figures[-1]) == [75.0]
    assert chart.reason == "n/a (no case of that category ran): b/ocr"


def test_every_chart_draws_or_says_why() -> None:
    drawn = plots.charts(document())
    for chart in drawn:
        assert chart.png is not None or (chart.reason and chart.reason.strip()), chart.name
    by_name = {c.name: c for c in drawn}
    assert by_name["throughput_vs_latency"].png is not None
    assert by_name["ttft_cdf"].png is not None
    assert by_name["itl_boxes"].reason == "n/a (no ITL): a chat/c4"
    assert (
        by_name["energy_per_token"].png is None
        and "J per token" in by_name["energy_per_token"].reason
    )
    assert {c.section for c in drawn} == {"speed", "quality", "energy"}


def test_ttft_cdf_counts_rounds_and_load_requests(figures) -> None:
    from pytest_mmbench.report.distributions import ttft_cdf

    ttft_cdf(document())
    (axes,) = figures[-1].axes
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels == ["a (n=3)", "b (n=1)"]  # a: 2 case rounds + 1 load request
