"""Telemetry through the plugin: per-request energy in the report and the terminal."""

from __future__ import annotations

import pytest

from support import case_file, load_report, records_by_case
from telemetry_fakes import ExporterServer


def test_energy_per_request_from_a_remote_exporter(pytester, write_hosts, llama_url) -> None:
    with ExporterServer("dcgm", watts=300.0, gpus=2) as exporter:
        write_hosts(f"""
            [endpoints.smol]
            base_url = "{llama_url}"
            model = "smollm2"
            hardware = "CPU, with a fake 2-GPU exporter"
            gpus = [0, 1]
            telemetry = {{ source = "prometheus", url = "{exporter.url}", preset = "dcgm" }}
            """)
        case_file(pytester.path, "capital", prompt="What is the capital of France?")
        result = pytester.runpytest_inprocess(
            "mm_one.toml",
            "--mm-endpoints=hosts.toml",
            "--mm-rounds=2",
            "--mm-idle-s=0.3",
            "--mm-sample-hz=20",
            "--mm-html=report.html",
        )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "energy per request (mean over rounds):",
            "capital *| * J * J/tok * tok/s/W",
            "smol telemetry (prometheus, gpu 0 at *, gpu 1 at *): idle 600.0 W, inference 600.0 W*",
        ]
    )
    document = load_report(pytester.path / "mmbench-report.json")
    record = records_by_case(document)[("smol", "capital")]
    for round_ in record["rounds"]:
        telemetry = round_["telemetry"]
        seconds = telemetry["window_s"]
        assert telemetry["energy_j"] == pytest.approx(600.0 * seconds, rel=0.1)
        assert telemetry["tok_s_per_w"] == pytest.approx(
            round_["metrics"]["output_tok_s"] / telemetry["avg_power_w"]
        )
        assert telemetry["j_per_output_token"] == pytest.approx(
            telemetry["energy_j"] / round_["metrics"]["output_tokens"]
        )
        assert telemetry["avg_temp_c"] == 61 and telemetry["mem_used_peak_mib"] == 2 * 10547
    assert record["summary"]["energy_j"]["n"] == 2
    context = record["telemetry_context"]
    assert context["idle_power_w"] == pytest.approx(600.0, rel=0.05)
    assert context["baseline_mem_mib"] == 2 * 10547
    summary = document["summary"]["smol"]["telemetry"]
    assert summary["windows"] == 2 and summary["avg_inference_power_w"] == pytest.approx(600, 0.1)
    assert summary["tok_s_per_w"] == pytest.approx(
        document["summary"]["smol"]["mean_output_tok_s"] / summary["avg_inference_power_w"]
    )
    assert document["endpoints"][0]["telemetry"]["source"] == "prometheus"

    # The power timeline: the scraped power over the run, the windows on its clock.
    (trace,) = document["endpoints"][0]["power_timeline"]
    assert trace["source"] == "prometheus" and trace["worker"] is None
    assert trace["samples"] >= 10 and len(trace["t_s"]) == len(trace["power_w"]) >= 10
    assert all(p == pytest.approx(600.0) for p in trace["power_w"])
    assert trace["temp_c"] and set(trace["temp_c"]) == {61.0}
    assert [(w["label"], w["kind"], w["round"]) for w in trace["windows"]] == [
        ("idle", "idle", None),
        ("capital", "case", 0),
        ("capital", "case", 1),
    ]
    edges = [edge for w in trace["windows"] for edge in (w["start_s"], w["end_s"])]
    assert edges == sorted(edges) and trace["t_s"][0] <= edges[0] and edges[-1] <= trace["t_s"][-1]
    for window, round_ in zip(trace["windows"][1:], record["rounds"], strict=True):
        assert window["energy_j"] == pytest.approx(round_["telemetry"]["energy_j"])
        assert window["end_s"] - window["start_s"] == pytest.approx(
            round_["telemetry"]["window_s"], abs=1e-3
        )
        assert window["energy_above_idle_j"] == pytest.approx(
            round_["telemetry"]["energy_above_idle_j"]
        )
    page = (pytester.path / "report.html").read_text()
    assert "id='chart-power_timeline_smol'" in page
    assert "Measured windows on the power timeline" in page


def test_no_gpu_here_means_n_a_with_reason_and_the_run_passes(
    pytester, write_hosts, llama_url
) -> None:
    write_hosts(
        f'[endpoints.smol]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n'
        'telemetry = { source = "nvml" }\n'
    )
    case_file(pytester.path, "capital", prompt="What is the capital of France?")
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["smol telemetry: n/a (NVML*)"])
    assert "energy per request" not in result.stdout.str()
    record = load_report(pytester.path / "mmbench-report.json")["records"][0]
    telemetry = record["rounds"][0]["telemetry"]
    assert telemetry["energy_j"] is None and telemetry["tok_s_per_w"] is None
    assert telemetry["missing"]["energy_j"].startswith("NVML")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--mm-sample-hz=0"],
            "--mm-sample-hz (or MM_BENCH_SAMPLE_HZ / ini mm_sample_hz) must be > 0",
        ),
        (["--mm-idle-s=soon"], "--mm-idle-s (or MM_BENCH_IDLE_S / ini mm_idle_s) must be a number"),
    ],
)
def test_bad_telemetry_options(pytester, args, message) -> None:
    result = pytester.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])
