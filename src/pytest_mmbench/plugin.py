"""pytest glue: options, markers, collection of case files, endpoint parametrization.

Everything that does work lives in its own module; this file only connects pytest's
hooks to them (see ../shared/STYLE.md, "thin plugin module").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_mmbench import hookspecs
from pytest_mmbench.config import DEFAULT_CASE_FILES, DEFAULT_REPORT, Settings, resolve
from pytest_mmbench.decide.decisions import (
    Decisions,
    ReportFileError,
    read_report,
    render_decisions,
)
from pytest_mmbench.glue import fixtures
from pytest_mmbench.glue import xdist as xdist_support
from pytest_mmbench.glue.expectations import check_expect_fail
from pytest_mmbench.glue.fixtures import item_marker, python_case_id
from pytest_mmbench.glue.items import CaseFile, CaseItem, LoadItem, is_case_file
from pytest_mmbench.modalities import MARKER_MODALITY
from pytest_mmbench.report.collector import ReportCollector
from pytest_mmbench.report.html import missing_plot_library, write_outputs
from pytest_mmbench.report.terminal import render_summary
from pytest_mmbench.results.records import IDENTITY
from pytest_mmbench.run.session import BenchSession
from pytest_mmbench.spec.endpoints import (
    Endpoint,
    Hosts,
    HostsError,
    default_local_endpoint,
    load_hosts,
)
from pytest_mmbench.state import STATE_KEY, BenchState, bench_state

MARKERS = {
    "text": "text-only benchmark case",
    "vision": "benchmark case with image input (endpoint must declare 'image')",
    "audio": "benchmark case with audio input (endpoint must declare 'audio')",
    "video": "benchmark case with video input (endpoint must declare 'video')",
    "load": "load point: many concurrent requests (--mm-concurrency / --mm-rate)",
}
COLLECTOR_NAME = "mmbench-report"


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
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
        help='absolute requirements per endpoint, e.g. "tok_s>=40,ttft_ms<=200"',
    )
    group.addoption(
        "--mm-html",
        dest="mm_html",
        metavar="PATH",
        default=None,
        help="write a self-contained HTML report with charts (needs matplotlib)",
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
    for name, text in (
        ("run_id", "tag that starts every prompt"),
        ("probe", "probe endpoint capabilities: on or off"),
        ("concurrency", "load concurrencies"),
        ("rate", "load request rates"),
        ("requests", "requests per load point"),
        ("duration", "load duration"),
        ("slo", "goodput SLO"),
        ("processes", "load client processes"),
        ("baseline", "earlier report to gate against"),
        ("fail_on", "regression rules"),
        ("require", "absolute requirements"),
        ("html", "HTML report path"),
        ("plots", "folder for chart PNGs"),
    ):
        parser.addini(f"mm_{name}", text, default="")
    parser.addini("mm_sample_hz", "GPU telemetry sampling rate", default="")
    parser.addini("mm_idle_s", "idle-power window before an endpoint's first case", default="")
    parser.addini("mm_endpoints", "hosts.toml listing the endpoints to benchmark", default="")
    parser.addini("mm_rounds", "recorded repetitions of each case", default="")
    parser.addini("mm_warmup", "unrecorded requests per endpoint before its first case", default="")
    parser.addini("mm_report", "where to write the JSON report", default="")
    parser.addini(
        "mm_case_files",
        "glob patterns of case files",
        type="args",
        default=list(DEFAULT_CASE_FILES),
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    settings = resolve(config)
    if settings.endpoints_path is None:
        hosts = Hosts([default_local_endpoint()])
    else:
        try:
            hosts = load_hosts(settings.endpoints_path)
        except HostsError as exc:
            raise pytest.UsageError(str(exc)) from None
    endpoints = hosts.endpoints
    session = BenchSession(
        endpoints,
        sample_hz=settings.sample_hz,
        idle_s=settings.idle_s,
        probe=settings.probe,
        run_id=settings.run_id,
    )
    config.stash[STATE_KEY] = BenchState(config, settings, session)
    config.pluginmanager.register(fixtures, "mmbench-fixtures")
    xdist_support.register(config, session)
    if not hasattr(config, "workerinput"):
        run_settings = {
            "endpoints_file": str(settings.endpoints_path) if settings.endpoints_path else None,
            "rounds": settings.rounds,
            "warmup": settings.warmup,
            "sample_hz": settings.sample_hz,
            "idle_s": settings.idle_s,
            "probe": settings.probe,
            "run_id": session.run_id,
            "xdist_workers": _xdist_workers(config),
        }
        decisions = _decisions(settings, hosts)
        collector = ReportCollector(
            config,
            settings.report_path,
            session.describe_endpoints,
            session.secrets(),
            run_settings,
            decide=decisions.apply,
            outputs=_outputs(settings),
        )
        config.pluginmanager.register(collector, COLLECTOR_NAME)


def _decisions(settings: Settings, hosts: Hosts) -> Decisions:
    baseline = None
    if settings.baseline_path is not None:
        try:
            baseline = read_report(settings.baseline_path)
        except ReportFileError as exc:
            raise pytest.UsageError(f"--mm-baseline: {exc}") from None
    return Decisions(
        baseline=baseline,
        baseline_path=str(settings.baseline_path) if settings.baseline_path else None,
        rules=settings.fail_on,
        requirements=settings.require,
        per_endpoint={e.id: e.require for e in hosts.endpoints if e.require},
        regimes=hosts.regimes,
    )


def _outputs(settings: Settings) -> Callable[[dict[str, Any]], list[str]] | None:
    """The HTML report and chart files, written after the JSON report."""
    if settings.html_path is None and settings.plots_dir is None:
        return None
    problem = missing_plot_library()
    if problem:
        raise pytest.UsageError(f"--mm-html / --mm-plots: {problem}")

    def write(document: dict[str, Any]) -> list[str]:
        return write_outputs(document, settings.html_path, settings.plots_dir)

    return write


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.session.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if is_case_file(file_path, parent.config.getini("mm_case_files")):
        return CaseFile.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mm_endpoint" in metafunc.fixturenames:
        endpoints = bench_state(metafunc.config).session.endpoints
        metafunc.parametrize("mm_endpoint", endpoints, ids=[e.id for e in endpoints], indirect=True)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag benchmark items with their identity; skip modalities an endpoint lacks."""
    for item in items:
        if isinstance(item, LoadItem):
            modality = "image" if item.point.image_size else "text"
            if not item.endpoint.accepts(modality):
                reason = f"endpoint {item.endpoint.id} does not accept {modality}"
                item.add_marker(pytest.mark.skip(reason=reason))
            continue
        found = _identity(item)
        if found is None:
            continue
        endpoint, case_id, marker = found
        item.user_properties.append(
            (IDENTITY, {"endpoint": endpoint.id, "case_id": case_id, "marker": marker})
        )
        modality = MARKER_MODALITY[marker]
        if not endpoint.accepts(modality):
            item.add_marker(
                pytest.mark.skip(reason=f"endpoint {endpoint.id} does not accept {modality}")
            )
        elif case_id in endpoint.expect_fail:
            item.add_marker(
                pytest.mark.xfail(
                    reason=f"{endpoint.source}: endpoint {endpoint.id} expects {case_id} to fail",
                    strict=False,
                )
            )
    check_expect_fail(config, bench_state(config).session.endpoints, items)


def _identity(item: pytest.Item) -> tuple[Endpoint, str, str] | None:
    if isinstance(item, CaseItem):
        return item.endpoint, item.case.id, item.case.marker
    callspec = getattr(item, "callspec", None)
    endpoint = callspec.params.get("mm_endpoint") if callspec is not None else None
    if isinstance(endpoint, Endpoint):
        return endpoint, python_case_id(item, endpoint), item_marker(item)
    return None


def pytest_collection_finish(session: pytest.Session) -> None:
    config = session.config
    state = bench_state(config)
    if hasattr(config, "workerinput") or not state.settings.uses_default_endpoint:
        return
    if any(_identity(item) for item in session.items):
        local = default_local_endpoint()
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"mmbench: no --mm-endpoints given; running on the embedded {local.model} "
                f"model as endpoint '{local.id}'"
            )


def pytest_report_header(config: pytest.Config) -> str | None:
    state = bench_state(config)
    if state.settings.endpoints_path is None:
        return None
    ids = ", ".join(e.id for e in state.session.endpoints)
    return (
        f"mmbench: endpoints {ids} from {state.settings.endpoints_path}; "
        f"rounds={state.settings.rounds} warmup={state.settings.warmup}"
    )


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    collector = config.pluginmanager.get_plugin(COLLECTOR_NAME)
    if not isinstance(collector, ReportCollector) or collector.document is None:
        return
    terminalreporter.section("mmbench summary")
    for line in render_summary(collector.document):
        terminalreporter.write_line(line)
    decisions = render_decisions(collector.document)
    if decisions:
        terminalreporter.write_line("")
    for line in decisions:
        failed = line.lstrip().startswith(("FAIL", "MISSING"))
        terminalreporter.write_line(line, red=failed, bold=failed)
    if collector.written is not None:
        terminalreporter.write_line(f"mmbench report: {collector.written}")
    for extra in collector.extra_outputs:
        terminalreporter.write_line(f"mmbench: {extra}")
    if collector.write_error:
        terminalreporter.write_line(f"mmbench: {collector.write_error}", red=True)


def _xdist_workers(config: pytest.Config) -> int | None:
    workers = getattr(config.option, "numprocesses", None)
    return workers if isinstance(workers, int) else None
