"""Per-request figures and round statistics, from hand-built raw streams."""

from __future__ import annotations

import math
import statistics

import pytest

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.results.metrics import NUMERIC_METRICS, compute
from pytest_mmbench.results.stats import percentile, spread, summarize_endpoint

MS = 1_000_000


def stream(deltas_ms: list[float], end_ms: float, usage: dict[str, object] | None) -> Trace:
    raw = Trace(sent_ns=0, end_ns=int(end_ms * MS), finish_reason="stop")
    raw.token_ns = [int(t * MS) for t in deltas_ms]
    raw.first_content_ns = raw.token_ns[0] if raw.token_ns else None
    raw.usage = usage
    return raw


def test_figures_follow_the_stated_definitions() -> None:
    raw = stream(
        [100, 110, 130, 160], end_ms=200, usage={"prompt_tokens": 12, "completion_tokens": 4}
    )
    m = compute(raw)
    assert m.ttft_ms == pytest.approx(100)
    assert m.e2e_ms == pytest.approx(200)
    assert m.tpot_ms == pytest.approx(60 / 3)  # (last - first) / (tokens - 1)
    assert m.decode_tok_s == pytest.approx(1000 / 20)
    assert m.output_tok_s == pytest.approx(4 / 0.2)  # seed 000: output tokens / e2e time
    assert m.itl_p50_ms == pytest.approx(20)
    assert m.input_tokens == 12 and m.output_tokens == 4
    assert m.ttfo_ms == pytest.approx(100) and m.tokens_per_chunk == pytest.approx(1.0)
    assert not m.output_tokens_estimated
    assert m.missing == {"cached_tokens": "server did not report usage.prompt_tokens_details"}


def test_decode_span_ends_at_finish_chunk_so_an_unstreamed_eos_counts() -> None:
    # 3 streamed deltas + an EOS token that is sampled (and counted) but never streamed:
    # the finish chunk arrives one token time after the last delta.
    raw = stream([100, 110, 120], end_ms=135, usage={"completion_tokens": 4})
    raw.finish_ns = 130 * MS
    m = compute(raw)
    assert m.tpot_ms == pytest.approx(10.0)  # (130 - 100) / (4 - 1), not (120 - 100) / 3
    assert m.decode_tok_s == pytest.approx(100.0)


def test_no_usage_counts_deltas_and_says_so() -> None:
    m = compute(stream([50, 60, 70], end_ms=80, usage=None))
    assert m.output_tokens == 3 and m.output_tokens_estimated
    assert m.input_tokens is None and "input_tokens" in m.missing


def test_single_token_has_no_decode_rate_and_says_why() -> None:
    m = compute(stream([50], end_ms=55, usage={"prompt_tokens": 3, "completion_tokens": 1}))
    assert m.ttft_ms == pytest.approx(50)
    assert m.decode_tok_s is None and m.tpot_ms is None and m.itl_p50_ms is None
    assert "two output tokens" in m.missing["decode_tok_s"]


def test_failed_request_has_no_figures_only_reasons() -> None:
    raw = Trace(sent_ns=0, end_ns=5 * MS)
    raw.fail("http", "HTTP 500: boom")
    m = compute(raw)
    for name in NUMERIC_METRICS:
        assert getattr(m, name) is None, name
        assert "HTTP 500: boom" in m.missing[name]


def test_usage_reasoning_tokens_preferred_over_delta_count() -> None:
    raw = stream(
        [10, 20],
        end_ms=30,
        usage={"completion_tokens": 9, "completion_tokens_details": {"reasoning_tokens": 6}},
    )
    raw.reasoning_deltas = 1
    m = compute(raw)
    assert m.reasoning_tokens == 6 and not m.reasoning_tokens_estimated


@pytest.mark.parametrize("q", [0, 10, 50, 90, 99, 100])
def test_percentile_matches_linear_interpolation(q: float) -> None:
    values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(rank), math.ceil(rank)
    expected = ordered[lo] + (ordered[hi] - ordered[lo]) * (rank - lo)
    assert percentile(values, q) == pytest.approx(expected)
    assert percentile(values, 50) == pytest.approx(statistics.median(values))


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_spread_over_rounds_skips_missing_and_never_invents_zero() -> None:
    s = spread([10.0, None, 14.0])
    assert s == {
        "mean": 12.0,
        "stddev": pytest.approx(math.sqrt(8)),
        "min": 10.0,
        "p50": 12.0,
        "p90": pytest.approx(13.6),
        "p99": pytest.approx(13.96),
        "max": 14.0,
        "n": 2,
    }
    empty = spread([None])
    assert empty.pop("n") == 0 and set(empty.values()) == {None}
    assert spread([5.0])["stddev"] is None


def test_endpoint_summary_ignores_unmeasured_cases_for_means() -> None:
    def rec(status: str, tok_s: float | None) -> dict[str, object]:
        summary = {
            "output_tok_s": spread([tok_s]),
            "e2e_ms": spread([100.0 if tok_s else None]),
            "ttft_ms": spread([10.0 if tok_s else None]),
        }
        return {"status": status, "summary": summary}

    s = summarize_endpoint(
        [rec("passed", 40.0), rec("failed", 20.0), rec("error", None), rec("skipped", None)]
    )
    assert s["mean_output_tok_s"] == pytest.approx(30.0)
    assert (s["passed"], s["failed"], s["errors"], s["skipped"]) == (1, 1, 1, 1)
    assert s["pass_rate"] == pytest.approx(1 / 3)
