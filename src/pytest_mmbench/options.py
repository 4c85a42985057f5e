"""The option table: every setting's command-line flag and ini key, in one place.

Kept free of heavy imports: pytest loads this with the plugin in every run, including
runs that collect no benchmark case.
"""

from __future__ import annotations

import os

import pytest

DEFAULT_REPORT = "mmbench-report.json"
DEFAULT_CASE_FILES = ("mm_*.toml",)
DEFAULT_MAX_TOKENS = 256  # per case (case files and mm_bench.chat alike)
DEFAULT_SEED = 1234

MARKERS = {
    "text": "text-only benchmark case",
    "vision": "benchmark case with image input (endpoint must declare 'image')",
    "audio": "benchmark case with audio input (endpoint must declare 'audio')",
    "video": "benchmark case with video input (endpoint must declare 'video')",
    "load": "load point: many concurrent requests (--mm-concurrency / --mm-rate)",
    "tools": "tool-calling case (the case sends tools; judged by a tool_call check)",
    "extraction": "structured extraction case (JSON answers, entities check)",
    "multilingual": "case in or about a language other than English",
    "eval": "capability eval case (it has a category; pass rates are summed per category)",
}


INI_SETTINGS = {  # setting stem -> ini help; each is also --mm-<stem> and MM_BENCH_<STEM>
    "endpoints": "hosts.toml listing the endpoints to benchmark",
    "rounds": "recorded repetitions of each case",
    "warmup": "unrecorded requests per endpoint before its first case",
    "report": "where to write the JSON report",
    "sample_hz": "GPU telemetry sampling rate",
    "idle_s": "idle-power window before an endpoint's first case",
    "run_id": "tag that starts every prompt",
    "probe": "probe endpoint capabilities: on or off",
    "concurrency": "load concurrencies",
    "rate": "load request rates",
    "requests": "requests per load point",
    "duration": "load duration",
    "slo": "goodput SLO",
    "processes": "load client processes",
    "clients": "load client hosts (execnet specs)",
    "baseline": "earlier report to gate against",
    "fail_on": "regression rules",
    "require": "absolute requirements",
    "bands": "verdict bands per figure",
    "html": "HTML report path",
    "plots": "folder for chart PNGs",
}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("mmbench", "pytest-mmbench: benchmark model endpoints")
    group.addoption(
        "--mm-endpoints",
        dest="mm_endpoints",
        metavar="PATH",
        default=None,
        help="hosts.toml listing the endpoints to benchmark "
        "(default: the embedded SmolLM2-135M model)",
    )
    group.addoption(
        "--mm-rounds",
        dest="mm_rounds",
        metavar="N",
        default=None,
        help="recorded repetitions of each case (default 1)",
    )
    group.addoption(
        "--mm-warmup",
        dest="mm_warmup",
        metavar="N",
        default=None,
        help="unrecorded requests per endpoint before its first case (default 0)",
    )
    group.addoption(
        "--mm-report",
        dest="mm_report",
        metavar="PATH",
        default=None,
        help=f"where to write the JSON report (default {DEFAULT_REPORT})",
    )
    group.addoption(
        "--mm-sample-hz",
        dest="mm_sample_hz",
        metavar="HZ",
        default=None,
        help="GPU telemetry sampling rate (default 10)",
    )
    group.addoption(
        "--mm-idle-s",
        dest="mm_idle_s",
        metavar="S",
        default=None,
        help="quiet window measuring idle power before an endpoint's first case "
        "(default 2; 0 skips it)",
    )
    group.addoption(
        "--mm-baseline",
        dest="mm_baseline",
        metavar="PATH",
        default=None,
        help="an earlier report to compare this run with (regression gate)",
    )
    group.addoption(
        "--mm-fail-on",
        dest="mm_fail_on",
        metavar="RULES",
        default=None,
        help="allowed change per figure in its bad direction, e.g. "
        '"tok_s:-10%%,ttft_ms:+20%%,energy_j:+15%%,passed:-0" (the default)',
    )
    group.addoption(
        "--mm-require",
        dest="mm_require",
        metavar="REQS",
        default=None,
        help='absolute requirements per endpoint, e.g. "tok_s>=40,ttft_ms<=200,tools>=6/8,'
        'category.counting>=0.5"',
    )
    group.addoption(
        "--mm-bands",
        dest="mm_bands",
        metavar="BANDS",
        default=None,
        help='a verdict per range of a figure, printed per endpoint, e.g. "tok_s: >=40 SWAP, '
        '25..40 WAIT, else NO; ttft_ms: <=200 OK, else SLOW"',
    )
    group.addoption(
        "--mm-html",
        dest="mm_html",
        metavar="PATH",
        default=None,
        help="write a self-contained HTML report with charts (needs matplotlib)",
    )
    group.addoption(
        "--mm-benchmark",
        dest="mm_benchmark",
        action="store_true",
        default=False,
        help="also time each case's rounds with pytest-benchmark (>= 5.2) so its table, "
        "--benchmark-json and --benchmark-compare see them; on by itself when any "
        "--benchmark-* option is given",
    )
    group.addoption(
        "--mm-plots",
        dest="mm_plots",
        metavar="DIR",
        default=None,
        help="write the report's charts as PNG files into DIR",
    )
    group.addoption(
        "--mm-concurrency",
        dest="mm_concurrency",
        metavar="N,N",
        default=None,
        help="run load cases as closed loops at these concurrencies, e.g. 1,8,32",
    )
    group.addoption(
        "--mm-rate",
        dest="mm_rate",
        metavar="R,R",
        default=None,
        help="run load cases as open loops at these request rates (Poisson), req/s",
    )
    group.addoption(
        "--mm-requests",
        dest="mm_requests",
        metavar="N",
        default=None,
        help="requests per load point",
    )
    group.addoption(
        "--mm-duration",
        dest="mm_duration",
        metavar="S",
        default=None,
        help="stop issuing a load point's requests after S seconds",
    )
    group.addoption(
        "--mm-slo",
        dest="mm_slo",
        metavar="SLO",
        default=None,
        help='goodput targets, e.g. "ttft_ms:200,tpot_ms:50"',
    )
    group.addoption(
        "--mm-processes",
        dest="mm_processes",
        metavar="N",
        default=None,
        help="spread each load point over N client processes (default 1)",
    )
    group.addoption(
        "--mm-clients",
        dest="mm_clients",
        metavar="SPECS",
        default=None,
        help="run each load point from client processes on these hosts: execnet gateway "
        'specs separated by ";", e.g. "socket=10.0.0.2:8888;2*ssh=me@box//python=python3" '
        "(docs/scaling.md)",
    )
    group.addoption(
        "--mm-probe",
        dest="mm_probe",
        metavar="on|off",
        default=None,
        help="probe each endpoint's capabilities (usage, [DONE], rejected fields, whether "
        "media is really consumed) before its first measured request (default on)",
    )
    group.addoption(
        "--mm-run-id",
        dest="mm_run_id",
        metavar="ID",
        default=None,
        help="the tag that starts every prompt so no two runs share a cached prefix "
        "(default: random per run; a fixed one reproduces a run's exact prompts)",
    )
    for name, text in INI_SETTINGS.items():
        parser.addini(f"mm_{name}", text, default="")
    parser.addini(
        "mm_case_files",
        "glob patterns of case files",
        type="args",
        default=list(DEFAULT_CASE_FILES),
    )


def settings_given(config: pytest.Config) -> bool:
    """Whether this run asks for a benchmark setting: an ``--mm-*`` option, an
    ``MM_BENCH_*`` variable or an ``mm_*`` ini key (the case-file patterns aside;
    ``--mm-benchmark`` is the bridge's own question, ``bridge_requested``).

    The plugin sets itself up at configure time only then, so a wrong setting is a
    usage error before collection; otherwise it waits until a case file or a test with
    ``mm_endpoint`` is collected, and a project with neither pays for nothing.
    """
    if any(name.startswith("MM_BENCH_") and value for name, value in os.environ.items()):
        return True
    return any(
        config.getoption(f"mm_{stem}") is not None or config.getini(f"mm_{stem}")
        for stem in INI_SETTINGS
    )
