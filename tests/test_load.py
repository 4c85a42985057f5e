"""Load points: arrivals, per-point arithmetic, queueing, client-bound flags, failures."""

from __future__ import annotations

import shutil
import statistics

import pytest

from pytest_mmbench.request.body import build_body, encode
from pytest_mmbench.request.sse import ChunkParser
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.results.load_row import point_row
from pytest_mmbench.run.load.arrivals import arrival_offsets
from pytest_mmbench.run.load.engine import PointRun, Target, run_point
from pytest_mmbench.spec.endpoints import Endpoint
from pytest_mmbench.spec.load_plan import (
    LoadPoint,
    Overrides,
    PlanError,
    load_points,
    parse_slo,
)
from support import REPO, load_case_file, load_report

MS = 1_000_000


# --- arrivals --------------------------------------------------------------------------------


def test_poisson_arrivals_have_the_requested_mean_rate() -> None:
    offsets = arrival_offsets(rate=5.0, count=4000, seed=7)
    gaps = [b - a for a, b in zip([0.0, *offsets], offsets, strict=False)]
    assert statistics.fmean(gaps) == pytest.approx(0.2, rel=0.05)
    # exponential gaps: standard deviation equals the mean
    assert statistics.stdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, abs=0.08)
    assert offsets == arrival_offsets(rate=5.0, count=4000, seed=7)  # seeded: repeatable


def test_burstiness_changes_spread_not_rate() -> None:
    regular = arrival_offsets(rate=5.0, count=4000, burstiness=4.0, seed=1)
    gaps = [b - a for a, b in zip([0.0, *regular], regular, strict=False)]
    assert statistics.fmean(gaps) == pytest.approx(0.2, rel=0.05)
    assert statistics.stdev(gaps) / statistics.fmean(gaps) == pytest.approx(0.5, abs=0.06)


# --- per-point arithmetic --------------------------------------------------------------------


def request(
    index: int,
    due: float,
    sent: float,
    tokens: list[float],
    end: float,
    out: int | None = None,
    error: str | None = None,
) -> Trace:
    return Trace(
        index=index,
        due_ns=int(due * MS),
        sent_ns=int(sent * MS),
        first_sent_ns=int(sent * MS),
        token_ns=[int(t * MS) for t in tokens],
        first_content_ns=int(tokens[0] * MS) if tokens else None,
        finish_ns=int(tokens[-1] * MS) if tokens else None,
        end_ns=int(end * MS),
        usage={"prompt_tokens": 10, "completion_tokens": out} if out is not None else None,
        error=error,
        error_kind="http" if error else None,
    )


def request_bodies(
    model: str, messages: list[list[dict[str, str]]], point: LoadPoint
) -> list[bytes]:
    endpoint = Endpoint(id="e", model=model, base_url="http://unused/v1")
    return [
        encode(
            build_body(endpoint, m, max_tokens=point.output_tokens, exact_length=point.ignore_eos)
        )
        for m in messages
    ]


def test_point_row_figures() -> None:
    records = [
        request(0, 0, 0, [100, 110, 120, 130], 131, out=4),
        request(1, 0, 50, [250, 270, 290, 310], 311, out=4),  # waited 50 ms in our client
        request(2, 0, 0, [], 5, error="HTTP 503: overloaded"),
    ]
    run = PointRun(records=records, start_ns=0, end_ns=1000 * MS, client_cpu_s=0.05, processes=1)
    row = point_row(run, {"ttft_ms": 200})
    assert (row["requests"], row["completed"], row["errors"]) == (3, 2, 1)
    assert row["error_rate"] == pytest.approx(1 / 3)
    assert row["error_examples"] == ["HTTP 503: overloaded"]
    assert row["ttft_ms"]["p50"] == pytest.approx(175)  # from due: (100 + 250) / 2
    assert row["queue_ms"]["max"] == pytest.approx(50)
    assert row["e2e_ms"]["max"] == pytest.approx(311)
    assert row["tpot_ms"]["mean"] == pytest.approx((10 + 20) / 2)
    assert row["itl_ms"]["p50"] == pytest.approx(15)
    assert row["output_tok_s"] == pytest.approx(8 / 1.0)  # all output tokens / wall time
    assert row["total_tok_s"] == pytest.approx((8 + 20) / 1.0)
    assert row["request_rate"] == pytest.approx(2.0) and row["rpm"] == pytest.approx(120.0)
    assert row["goodput_rps"] == pytest.approx(1.0)  # only request 0 meets ttft <= 200 ms
    assert row["goodput_share"] == pytest.approx(1 / 3)
    assert not row["client_bound"] and row["client_cpu_share"] == pytest.approx(0.05)


def test_a_busy_client_is_flagged() -> None:
    run = PointRun(
        records=[request(0, 0, 0, [10, 20], 21, out=2)],
        start_ns=0,
        end_ns=1000 * MS,
        client_cpu_s=0.95,
        processes=1,
    )
    assert point_row(run, {})["client_bound"]
    assert "no SLO" in point_row(run, {})["missing"]["goodput_rps"]


def test_plan_from_case_table_and_cli() -> None:
    table = {"concurrency": [1, 4], "requests": 10, "slo": {"ttft_ms": 300}}
    points = load_points(table, Overrides())
    assert [p.label for p in points] == ["c1", "c4"] and points[0].requests == 10
    assert points[0].slo == {"ttft_ms": 300}
    over = load_points(table, Overrides(rate=(0.5, 2.0), requests=3, slo=parse_slo("tpot_ms:50")))
    assert [p.label for p in over] == ["r0.5", "r2"] and over[1].requests == 3
    assert over[0].slo == {"tpot_ms": 50}
    assert "unique prefix per request" in over[0].describe()["cache_hygiene"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"concurrency": [0]}, "whole number > 0"),
        ({"requests": "many"}, "must be a whole number"),
        ({"slo": {"latency": 3}}, "unknown figure 'latency'"),
        ({"threads": 2}, "load.threads: unknown key"),
    ],
)
def test_bad_load_tables(table: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        load_points(table, Overrides())


# --- against servers -------------------------------------------------------------------------


def target_for(url: str, model: str) -> tuple[Target, Endpoint]:
    endpoint = Endpoint(id="e", model=model, base_url=url)
    return Target(url + "/chat/completions", {"Content-Type": "application/json"}, 10.0), endpoint


def test_queueing_is_zero_below_the_limit_and_measured_above_it(fault_server) -> None:
    target, _ = target_for(fault_server.url, "fault:ok")
    messages = [[{"role": "user", "content": f"hi {i}"}] for i in range(12)]
    closed = LoadPoint(concurrency=4, requests=12, output_tokens=4)
    row = point_row(run_point(target, closed, request_bodies("fault:ok", messages, closed)), {})
    assert row["completed"] == 12 and row["queue_ms"]["p99"] < 1.0
    # open loop, 12 arrivals at 200/s but one slot: later requests wait for it, and show it
    opened = LoadPoint(
        concurrency=None, rate=200.0, max_concurrency=1, requests=12, output_tokens=4, seed=3
    )
    run = run_point(target, opened, request_bodies("fault:ok", messages, opened))
    row = point_row(run, {})
    assert row["completed"] == 12 and row["queue_ms"]["max"] > 50
    assert row["e2e_ms"]["max"] >= row["queue_ms"]["max"]  # latency includes the wait


def test_processes_split_the_load_and_merge_results(fault_server) -> None:
    target, _ = target_for(fault_server.url, "fault:ok")
    messages = [[{"role": "user", "content": f"hi {i}"}] for i in range(10)]
    point = LoadPoint(concurrency=4, requests=10, output_tokens=4, processes=2)
    run = run_point(target, point, request_bodies("fault:ok", messages, point))
    assert run.processes == 2 and sorted(r.index for r in run.records) == list(range(10))
    assert point_row(run, {})["completed"] == 10


def test_load_run_with_failing_requests(pytester, write_hosts, fault_server) -> None:
    write_hosts(f'[endpoints.flaky]\nbase_url = "{fault_server.url}"\nmodel = "fault:flaky"\n')
    load_case_file(
        pytester.path, "concurrency = [3], requests = 9, input_tokens = 40, output_tokens = 4"
    )
    result = pytester.runpytest_inprocess(
        "mm_load.toml", "--mm-endpoints=hosts.toml", "-m", "load", "--mm-slo=ttft_ms:5000"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*load point c3 on endpoint flaky: 3 of 9 requests failed "
            "(HTTP 503: *overloaded*); the others are measured*",
            "load on flaky:",
            "*chat/c3 |   9 |   3 |*",
        ]
    )
    (row,) = load_report(pytester.path / "mmbench-report.json")["load"]["flaky"]
    assert (row["completed"], row["errors"]) == (6, 3)
    assert row["goodput_rps"] > 0 and row["input_length_method"] == "tokenize"
    assert row["output_tokens"]["mean"] == 4


def test_concurrency_sweep_on_the_embedded_model(pytester) -> None:
    (pytester.path / "cases").mkdir()
    shutil.copy(REPO / "cases" / "mm_load.toml", pytester.path / "cases" / "mm_load.toml")
    shutil.copy(REPO / "examples" / "smollm2.toml", pytester.path / "local.toml")
    result = pytester.runpytest_inprocess(
        "cases",
        "-m",
        "load",
        "--mm-endpoints=local.toml",
        "--mm-concurrency=1,2,8",
        "--mm-requests=3",
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "load on local:",
            "*point | req | err | TTFT p50/p99 ms*",
            "*synthetic-chat/c1 |*",
            "*synthetic-chat/c2 |*",
            "*synthetic-chat/c8 |*",
        ]
    )
    rows = load_report(pytester.path / "mmbench-report.json")["load"]["local"]
    assert [r["point"] for r in rows] == ["c1", "c2", "c8"]
    for row in rows:
        assert row["errors"] == 0 and row["completed"] == 3
        assert row["output_tokens"]["min"] == row["output_tokens"]["max"] == 32  # ignore_eos
        assert abs(row["input_tokens"]["mean"] - 128) <= 4  # sized by the server's tokenizer
        assert row["output_tok_s"] > 0 and row["ttft_ms"]["p50"] > 0
        assert row["queue_ms"]["p99"] < 5  # closed loop: no wait in our client
        assert row["server_decode_tok_s"]["mean"] > 0


def test_load_options_are_checked(pytester) -> None:
    for args, message in (
        (["--mm-concurrency=1,8", "--mm-rate=2"], "exclude each other"),
        (["--mm-concurrency=0"], "--mm-concurrency: must be a whole number > 0"),
        (["--mm-slo=ttft:200"], "--mm-slo"),
        (["--mm-requests=x"], "--mm-requests"),
    ):
        result = pytester.runpytest_inprocess(*args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, args
        result.stderr.fnmatch_lines([f"*{message}*"])


@pytest.mark.parametrize(
    ("line", "token", "finish"),
    [
        (b'data: {"choices":[{"delta":{"content":"Hi"},"finish_reason":null}]}', True, False),
        (b'data: {"choices": [{"delta": {"content": "Hi"}, "finish_reason": null}]}', True, False),
        (b'data: {"choices":[{"delta":{"role":"assistant","content":null}}]}', False, False),
        (b'data: {"choices":[{"delta":{"content":""}}]}', False, False),
        (b'data: {"choices":[{"delta":{"reasoning_content":"hmm"}}]}', True, False),
        (b'data: {"choices":[{"delta":{"reasoning": "hmm"}}]}', True, False),
        (b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}', False, True),
        (b'data: {"choices": [{"delta": {}, "finish_reason": "length"}]}', False, True),
    ],
)
def test_chunk_scan_handles_compact_and_spaced_json(line: bytes, token: bool, finish: bool) -> None:
    record = Trace()
    ChunkParser(record).line(line, 5)
    assert bool(record.token_ns) is token and (record.finish_ns is not None) is finish


def test_image_points_send_a_distinct_image_per_request(
    pytester, write_hosts, fault_server
) -> None:
    pytest.importorskip("PIL")
    write_hosts(
        f'[endpoints.vis]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n'
        'modalities = ["text", "image"]\n'
        f'[endpoints.textonly]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n'
    )
    (pytester.path / "mm_load.toml").write_text(
        '[[case]]\nid = "img"\nmodality = "vision"\nload = { concurrency = [2], requests = 4,'
        " input_tokens = 30, output_tokens = 4, image_size = [64, 128], images = 2 }\n",
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_load.toml", "--mm-endpoints=hosts.toml", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(["*endpoint textonly does not accept image*"])
    streamed = [r["body"] for r in fault_server.requests if r["body"].get("stream")]
    measured = [body for body in streamed if body["max_tokens"] == 4]  # not the 1-token probe
    contents = [body["messages"][0]["content"] for body in measured]
    images = [
        part["image_url"]["url"]
        for content in contents
        if isinstance(content, list)
        for part in content
        if part["type"] == "image_url"
    ]
    assert len(images) == 2 * 2 * 4  # 2 images per request, 2 sizes x 4 requests
    assert len(set(images)) == len(images)  # no two requests share an image
    rows = load_report(pytester.path / "mmbench-report.json")["load"]["vis"]
    assert [r["point"] for r in rows] == ["c2-img64", "c2-img128"]
    assert rows[0]["images_per_request"] == 2 and rows[1]["image_size"] == 128
