"""The main path against a real model: SmolLM2-135M in the embedded llama.cpp server."""

from __future__ import annotations

import shutil

import pytest

from pytest_mmbench.run.session import BenchSession
from pytest_mmbench.run.single import run_case
from pytest_mmbench.spec.cases import parse_case
from pytest_mmbench.spec.endpoints import Endpoint
from support import REPO, load_report, records_by_case
from telemetry_fakes import ExporterServer

TEXT_CASES = ("basic-qa", "reasoning", "python-coding", "multilingual", "summarization")


def test_text_suite_on_the_embedded_model(pytester: pytest.Pytester, text_cases) -> None:
    shutil.copy(REPO / "examples" / "smollm2.toml", pytester.path / "local.toml")
    result = pytester.runpytest_inprocess("cases", "--mm-endpoints=local.toml", "-m", "text")
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
    result.stdout.fnmatch_lines(
        [
            "*mmbench summary*",
            "case*| local*",
            "basic-qa*PASS*",
            "local (smollm2-135m*): *passed*tok/s*",
        ]
    )
    document = load_report(pytester.path / "mmbench-report.json")
    records = records_by_case(document)
    assert {case for _, case in records} == set(TEXT_CASES)
    for case in TEXT_CASES:
        record = records[("local", case)]
        assert record["status"] in ("passed", "failed"), record["error"]
        metrics = record["rounds"][0]["metrics"]
        assert metrics["ttft_ms"] > 0 and metrics["output_tok_s"] > 0
        assert metrics["output_tokens"] > 0 and not metrics["output_tokens_estimated"]
        assert metrics["input_tokens"] > 0
        assert record["answer"]
        timings = record["rounds"][0]["server_timings"]
        assert timings["predicted_n"] == metrics["output_tokens"]
        # Natural stops included (the EOS token is counted but never streamed):
        assert metrics["decode_tok_s"] == pytest.approx(timings["predicted_per_second"], rel=0.05)
    assert records[("local", "basic-qa")]["status"] == "passed"
    assert "Paris" in records[("local", "basic-qa")]["answer"]
    runtime = document["endpoints"][0]["runtime"]
    assert runtime["resolved_base_url"].startswith("http://127.0.0.1:")
    assert 0 < runtime["server_start_s"] < 30


def test_client_decode_rate_matches_llama_cpp_timings(llama_url: str) -> None:
    """Our decode tok/s must agree with the server's own figure within 5% (issue: core)."""
    endpoint = Endpoint(id="smol", model="smollm2", base_url=llama_url)
    case = parse_case(
        {
            "id": "decode",
            "modality": "text",
            "max_tokens": 64,
            "prompt": "Tell me a long story about a dragon.",
            "extra_body": {"ignore_eos": True},
        },
        "test",
        require_check=False,
    )
    session = BenchSession([endpoint])
    try:
        result = run_case(session, endpoint, case, rounds=3, warmup=1)
    finally:
        session.close()
    for round_ in result.rounds:
        ours = round_.metrics.decode_tok_s
        server = round_.server_timings["predicted_per_second"]
        assert round_.metrics.output_tokens == 64 == round_.server_timings["predicted_n"]
        assert ours == pytest.approx(server, rel=0.05), (ours, server)
        # TTFT includes the prompt time the server reports, plus HTTP and parsing.
        assert round_.metrics.ttft_ms >= round_.server_timings["prompt_ms"]


def test_no_endpoints_option_runs_on_the_embedded_model(pytester: pytest.Pytester) -> None:
    (pytester.path / "mm_one.toml").write_text(
        '[[case]]\nid = "capital"\nmodality = "text"\nsystem = "You are a helpful assistant."\n'
        'prompt = "What is the capital of France?"\nmax_tokens = 12\n'
        'check = { contains = "Paris" }\n',
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess("mm_one.toml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "mmbench: no --mm-endpoints given; running on the embedded "
            "smollm2-135m model as endpoint 'local'"
        ]
    )
    document = load_report(pytester.path / "mmbench-report.json")
    assert document["endpoints"][0]["launch"] == "embedded"
    assert document["run"]["endpoints_file"] is None


def test_xdist_workers_results_reach_the_main_report(
    pytester, write_hosts, llama_url, text_cases
) -> None:
    pytest.importorskip("xdist")
    with ExporterServer("dcgm", watts=150.0, gpus=1) as exporter:
        source = f'source = "prometheus", url = "{exporter.url}", preset = "dcgm"'
        telemetry = f"telemetry = {{ {source} }}\n"
        write_hosts(
            f'[endpoints.a]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n{telemetry}'
            f'[endpoints.b]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n{telemetry}'
        )
        result = pytester.runpytest_subprocess(
            "cases",
            "--mm-endpoints=hosts.toml",
            "-n",
            "2",
            "-k",
            "basic-qa or summarization",
            "-p",
            "xdist",
            "--mm-idle-s=0.2",
            "--mm-warmup=2",
        )
    result.assert_outcomes(passed=4)
    document = load_report(pytester.path / "mmbench-report.json")
    assert document["run"]["xdist_workers"] == 2
    assert set(records_by_case(document)) == {
        (e, c) for e in "ab" for c in ("basic-qa", "summarization")
    }
    result.stdout.fnmatch_lines(["*mmbench summary*"])
    for endpoint in document["endpoints"]:  # probed on a worker, merged through workeroutput
        found = endpoint["capabilities"]
        assert found["probed"] and found["usage"] == "separate chunk", endpoint["id"]
        # Each worker that measured the endpoint sent its power timeline back.
        traces = endpoint["power_timeline"]
        assert traces and {t["worker"] for t in traces} <= {"gw0", "gw1"}
        windows = {w["label"] for t in traces for w in t["windows"] if w["kind"] == "case"}
        assert windows == {"basic-qa", "summarization"}, endpoint["id"]
        assert all(p == 150.0 for t in traces for p in t["power_w"])
        # Warm-ups and the URL are learnt on the workers too: 2 per worker that served it.
        runtime = endpoint["runtime"]
        assert runtime["warmup_requests"] == 2 * len(traces), endpoint["id"]
        assert runtime["resolved_base_url"] == llama_url
