"""Seed 004's category table and cost per task, and seed 002's decision line, from one run.

Runs against the embedded SmolLM2 with cases whose verdicts are certain (a check that
always holds, one that never does), so the counts are known before the run.
"""

from __future__ import annotations

import pytest

from pytest_mmbench.decide.bands import judge_bands, parse_bands
from pytest_mmbench.decide.gate import RuleError, check_requirements, parse_requirements
from pytest_mmbench.results.cost import NO_PRICE, endpoint_cost, load_cost
from pytest_mmbench.spec.endpoints import HostsError, load_hosts
from pytest_mmbench.spec.price import Price
from support import load_report, records_by_case

CASES = """
[[case]]
id = "count-a"
modality = "text"
category = "counting"
prompt = "Count to three."
max_tokens = 4
check = { max_words = 1000 }

[[case]]
id = "count-b"
modality = "text"
category = "counting"
prompt = "Count to four."
max_tokens = 4
check = { contains = "zzzz-never" }

[[case]]
id = "left-right"
modality = "text"
category = "spatial"
prompt = "Is left the opposite of right?"
max_tokens = 4
check = { max_words = 1000 }
"""

HOSTS = """
[endpoints.local]
launch = "embedded"
cost_per_hour = 3.6
[endpoints.local.embedded]
threads = 1

[frontier.cheap-and-right]
maximize = ["pass_rate"]
minimize = ["cost_per_task"]
"""


def test_category_table_cost_requirements_and_bands_from_one_run(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "hosts.toml").write_text(HOSTS, encoding="utf-8")
    (pytester.path / "mm_evals.toml").write_text(CASES, encoding="utf-8")
    result = pytester.runpytest_inprocess(
        "--mm-endpoints=hosts.toml",
        "--mm-probe=off",
        "--mm-require=category.counting>=1/2,category.spatial>=0.9,cost_per_task<=1",
        "--mm-bands=tok_s: >=100000 FAST, else SLOW; cost_per_task: <=1 CHEAP, else DEAR",
    )
    result.assert_outcomes(passed=2, failed=1)
    document = load_report(pytester.path / "mmbench-report.json")  # schema-validated
    summary = document["summary"]["local"]
    evals = summary["evals"]
    assert evals["categories"] == {
        "counting": {"passed": 1, "total": 2, "rate": 0.5},
        "spatial": {"passed": 1, "total": 1, "rate": 1.0},
    }
    assert evals["overall"] == {"passed": 2, "total": 3, "rate": 2 / 3}
    assert evals["tools"] is None and evals["median_output_tokens"] == 4
    # cost_per_hour 3.6 = 0.001 per second: each round pays its own wall time.
    records = records_by_case(document)
    costs = []
    for record in records.values():
        (round_,) = record["rounds"]
        assert round_["cost"] == pytest.approx(round_["metrics"]["e2e_ms"] / 1e6)
        costs.append(round_["cost"])
    cost = summary["cost"]
    assert cost["basis"] == "hourly" and cost["currency"] == "USD"
    assert cost["per_task"] == pytest.approx(sum(costs) / 3)
    assert cost["per_passed_task"] == pytest.approx(sum(costs) / 2)
    assert cost["per_m_output_tokens"] == pytest.approx(sum(costs) / 12 * 1e6)
    rows = {row["requirement"]: row for row in document["requirements"]["rows"]}
    assert rows["category.counting>=1/2"]["verdict"] == "PASS"
    assert rows["category.spatial>=0.9"]["verdict"] == "PASS"
    assert rows["cost_per_task<=1"]["verdict"] == "PASS"
    bands = {row["figure"]: row for row in document["bands"]}
    assert bands["tok_s"]["verdict"] == "SLOW" and bands["cost_per_task"]["verdict"] == "CHEAP"
    (regime,) = [r for r in document["frontier"] if r["regime"]["name"] == "cheap-and-right"]
    # One endpoint is no comparison: the regime's values are kept, no winner is named.
    assert regime["frontier"] == [] and "fewer than two eligible" in regime["undecided"]
    assert set(regime["values"]["local"]) == {"pass_rate", "cost_per_task"}
    result.stdout.fnmatch_lines(
        [
            "local cost (USD, hourly): * per task, * per passed task, * per 1M output tokens",
            "evals per category:",
            "category * | local",
            "counting * | 1/2 (50.0%)",
            "spatial * | 1/1 (100.0%)",
            "overall * | 2/3 (66.7%)",
            "avg response ms *",
            "median input tokens *",
            "median output tokens*| 4",
            "est. cost / task * USD",
            "*PASS local: category.counting>=1/2 (measured 1/2)",
            "verdict bands:",
            "  local: tok_s * (else): SLOW",
            "  local: cost_per_task * (<=1): CHEAP",
        ]
    )


def test_endpoint_variants_run_every_case_each_way(pytester: pytest.Pytester) -> None:
    (pytester.path / "hosts.toml").write_text(
        '[endpoints.ollama]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
        "variants = { think = {}, no-think = { extra_body = { think = false } } }\n",
        encoding="utf-8",
    )
    (pytester.path / "mm_evals.toml").write_text(CASES, encoding="utf-8")
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["mm_evals.toml::count-a.think[[]ollama[]]", "mm_evals.toml::count-a.no-think[[]ollama[]]"]
    )
    assert "6 tests collected" in result.stdout.str()


def test_requirement_and_band_syntax() -> None:
    (tools,) = parse_requirements("tools>=6/8")
    assert tools.value == 0.75 and tools.text == "tools>=6/8"
    parse_requirements("category.counting>=0.5,entities.persons>=5/7,vision.passed>=1")
    with pytest.raises(RuleError, match=r"unknown figure 'colour\.passed'"):
        parse_requirements("colour.passed>=1")
    with pytest.raises(RuleError, match="total must be above 0"):
        parse_requirements("tools>=1/0")
    (rule,) = parse_bands("tok_s: >=40 SWAP, 25..40 WAIT, else NO")
    document = {
        "endpoints": [{"id": e} for e in ("a", "b", "c", "d")],
        "summary": {
            "a": {"mean_output_tok_s": 48.2},
            "b": {"mean_output_tok_s": 38.4},
            "c": {"mean_output_tok_s": 6.9},
            "d": {"mean_output_tok_s": None},
        },
        "records": [],
    }
    verdicts = [row["verdict"] for row in judge_bands(document, [rule])]
    assert verdicts == ["SWAP", "WAIT", "NO", None]
    for bad in ("tok_s >=40 SWAP", "tok_s: 40..25 WAIT", "tok_s: >=40", "nope: else X"):
        with pytest.raises(RuleError):
            parse_bands(bad)


def test_cost_is_null_with_a_reason_without_a_price() -> None:
    record = {"status": "passed", "summary": {"cost": {"mean": None}}, "rounds": []}
    found = endpoint_cost([record], None)
    assert found["per_task"] is None and found["missing"]["per_task"] == NO_PRICE
    tokens = Price(input_per_m=1.0, output_per_m=2.0)
    point = load_cost(tokens, 10.0, 2, [100, 100], [50, 50])
    assert point["per_request"] == pytest.approx((100 * 1 + 50 * 2) / 1e6)
    assert point["per_m_output_tokens"] == pytest.approx(2 * 200 / 1e6 / 100 * 1e6)
    hourly = load_cost(Price(per_hour=36.0), 10.0, 4, [1] * 4, [25] * 4)
    assert hourly["per_request"] == pytest.approx(36.0 * 10 / 3600 / 4)  # shared wall time
    assert load_cost(tokens, 1.0, 1, [None], [5])["missing"]


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("price = { input_per_m = 1, output_per_m = 2 }\ncost_per_hour = 2", "not both"),
        ("price = { input_per_m = 1 }", "output_per_m must be a number"),
        ("price = { input = 1, output_per_m = 2 }", "unknown key 'input'"),
        ("variants = { x = 1 }", "variant 'x' must be a table"),
    ],
)
def test_price_and_variant_errors_name_the_key(tmp_path, table: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "hosts.toml"
    path.write_text(
        f'[endpoints.a]\nbase_url = "http://h:1/v1"\nmodel = "m"\n{table}\n', encoding="utf-8"
    )
    with pytest.raises(HostsError, match=problem):
        load_hosts(path)


def test_share_and_cost_requirements_pass_at_the_line_and_fail_just_past_it() -> None:
    """Seed 002's rows at their edges: 6/8 tools passes >=6/8 and 5/8 fails; a cost just
    above its ceiling fails and one at it passes."""
    endpoints = [{"id": e} for e in ("six", "five")]
    summary = {
        "six": {"evals": {"tools": {"passed": 6, "structured": 6, "total": 8}}},
        "five": {"evals": {"tools": {"passed": 5, "structured": 5, "total": 8}}},
    }
    summary["six"]["cost"] = {"per_task": 2.0e-5, "missing": {}}
    summary["five"]["cost"] = {"per_task": 2.1e-5, "missing": {}}
    document = {"endpoints": endpoints, "summary": summary, "records": []}
    rows = check_requirements(document, parse_requirements("tools>=6/8,cost_per_task<=2e-5"), {})
    verdicts = {(r.endpoint, r.requirement): r.verdict for r in rows}
    assert verdicts == {
        ("six", "tools>=6/8"): "PASS",
        ("six", "cost_per_task<=2e-05"): "PASS",  # 2e-5 is read (scientific notation)
        ("five", "tools>=6/8"): "FAIL",
        ("five", "cost_per_task<=2e-05"): "FAIL",
    }
