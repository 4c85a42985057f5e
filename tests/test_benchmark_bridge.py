"""The pytest-benchmark bridge runs only when asked for, and then on a real model."""

from __future__ import annotations

import json

import pytest

from pytest_mmbench.glue import benchmark_bridge
from support import case_file, load_report
from test_decisions import run


def test_rounds_feed_pytest_benchmark(pytester, llama_url, monkeypatch) -> None:
    pytest.importorskip("pytest_benchmark")
    monkeypatch.delenv("PYTEST_ADDOPTS")
    case_file(pytester.path, "capital", prompt="What is the capital of France?")
    hosts = f'[endpoints.smol]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n'
    result = run(pytester, hosts, "--benchmark-json=bench.json")
    result.assert_outcomes(passed=1)
    (bench,) = json.loads((pytester.path / "bench.json").read_text())["benchmarks"]
    assert bench["stats"]["rounds"] == 3  # --mm-rounds=3, each timed by pytest-benchmark
    extra = bench["extra_info"]["mmbench"]
    assert extra["endpoint"] == "smol" and extra["status"] == "passed"
    record = load_report(pytester.path / "mmbench-report.json")["records"][0]
    assert len(record["rounds"]) == 3
    ours = record["summary"]["e2e_ms"]["mean"] / 1000
    # pytest-benchmark timed the same requests: end-to-end latency plus stream reading.
    assert ours <= bench["stats"]["mean"] < ours * 1.2 + 0.01
    assert extra["output_tok_s"] == record["summary"]["output_tok_s"]["mean"]


def test_installed_but_not_asked_for_prints_no_second_table(
    pytester, llama_url, monkeypatch
) -> None:
    pytest.importorskip("pytest_benchmark")
    monkeypatch.delenv("PYTEST_ADDOPTS")
    case_file(pytester.path, "capital", prompt="What is the capital of France?")
    hosts = f'[endpoints.smol]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n'
    quiet = run(pytester, hosts)
    quiet.assert_outcomes(passed=1)
    assert "benchmark: 1 tests" not in quiet.stdout.str()  # its table title
    assert "Min " not in quiet.stdout.str()
    asked = run(pytester, hosts, "--mm-benchmark")
    asked.assert_outcomes(passed=1)
    asked.stdout.fnmatch_lines(["*benchmark: 1 tests*", "*capital*smol*"])


def test_an_old_pytest_benchmark_is_a_usage_error(pytester, monkeypatch) -> None:
    monkeypatch.setattr(benchmark_bridge, "version", lambda name: "4.0.0")
    case_file(pytester.path, "capital")
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-benchmark", "-p", "no:benchmark")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mm-benchmark needs pytest-benchmark >= 5.2 (found 4.0.0)*"])


def test_a_benchmark_option_alone_is_checked_before_collection(pytester, monkeypatch) -> None:
    """No mm setting, only a --benchmark-* option: the bridge is still checked at
    configure, so the answer is one usage error, not a collection error per case file."""
    pytest.importorskip("pytest_benchmark")
    monkeypatch.setattr(benchmark_bridge, "version", lambda name: "4.0.0")
    monkeypatch.delenv("MM_BENCH_RUN_ID")
    monkeypatch.setenv("PYTEST_ADDOPTS", "")  # pytest-benchmark on, for its option
    case_file(pytester.path, "capital")
    result = pytester.runpytest_inprocess("mm_one.toml", "--benchmark-disable")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mm-benchmark needs pytest-benchmark >= 5.2 (found 4.0.0)*"])
