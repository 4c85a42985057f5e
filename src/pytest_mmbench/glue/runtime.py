"""The plugin's work, imported on first use by the thin hooks in ``plugin.py``.

Loading settings and hosts, the session, the report collector and decisions, tagging
collected items, and the terminal summary.  Kept out of ``plugin.py`` so that importing
the plugin in a project with no benchmark case costs next to nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_mmbench.config import Settings, resolve
from pytest_mmbench.decide.decisions import (
    Decisions,
    ReportFileError,
    read_report,
    render_decisions,
)
from pytest_mmbench.glue import gpu_groups
from pytest_mmbench.glue import xdist as xdist_support
from pytest_mmbench.glue.benchmark_bridge import bench_bridge_on
from pytest_mmbench.glue.expectations import check_expect_fail, expected_to_fail
from pytest_mmbench.glue.fixtures import item_marker, python_case_id
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
from pytest_mmbench.state import RUN_STARTED_KEY, STATE_KEY, BenchState, bench_state

COLLECTOR_NAME = "mmbench-report"


def configure(config: pytest.Config) -> None:
    settings = resolve(config)
    if settings.endpoints_path is None:
        hosts = Hosts([default_local_endpoint()])
    else:
        try:
            hosts = load_hosts(settings.endpoints_path)
        except HostsError as exc:
            raise pytest.UsageError(str(exc)) from None
    endpoints = hosts.endpoints
    bench_bridge_on(config)  # a --mm-benchmark it cannot serve stops here, as a usage error
    session = BenchSession(
        endpoints,
        sample_hz=settings.sample_hz,
        idle_s=settings.idle_s,
        probe=settings.probe,
        run_id=xdist_support.worker_run_id(config) or settings.run_id,
        log_dir=settings.report_path.parent / "mmbench-servers",
        clients=settings.clients,
    )
    config.stash[STATE_KEY] = BenchState(config, settings, session)
    xdist_support.register(config, session)
    gpu_groups.register(config, endpoints)
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
            started_at=config.stash.get(RUN_STARTED_KEY, None),
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
        bands=settings.bands,
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


def generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mm_endpoint" in metafunc.fixturenames:
        endpoints = bench_state(metafunc.config).session.endpoints
        metafunc.parametrize("mm_endpoint", endpoints, ids=[e.id for e in endpoints], indirect=True)


def collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tag benchmark items with their identity; skip modalities an endpoint lacks."""
    for item in items:
        kind = getattr(item, "mm_kind", None)  # set by glue.items, loaded only with case files
        if kind == "load":
            point, endpoint = item.point, item.endpoint  # type: ignore[attr-defined]
            modality = "image" if point.image_size else "text"
            if not endpoint.accepts(modality):
                reason = f"endpoint {endpoint.id} does not accept {modality}"
                item.add_marker(pytest.mark.skip(reason=reason))
            continue
        found = _identity(item)
        if found is None:
            continue
        endpoint, case_id, marker = found
        case = getattr(item, "case", None)
        item.user_properties.append(
            (
                IDENTITY,
                {
                    "endpoint": endpoint.id,
                    "case_id": case_id,
                    "marker": marker,
                    "category": getattr(case, "category", None),
                    "variant": getattr(case, "variant", None),
                    "variant_of": getattr(case, "variant_of", None),
                    "uses_tools": bool(getattr(case, "tools", ())),
                },
            )
        )
        modality = MARKER_MODALITY[marker]
        if not endpoint.accepts(modality):
            item.add_marker(
                pytest.mark.skip(reason=f"endpoint {endpoint.id} does not accept {modality}")
            )
        elif expected_to_fail(endpoint, case_id):
            item.add_marker(
                pytest.mark.xfail(
                    reason=f"{endpoint.source}: endpoint {endpoint.id} expects {case_id} to fail",
                    strict=False,
                )
            )
    check_expect_fail(config, bench_state(config).session.endpoints, items)


def _identity(item: pytest.Item) -> tuple[Endpoint, str, str] | None:
    if getattr(item, "mm_kind", None) == "case":
        return item.endpoint, item.case.id, item.case.marker  # type: ignore[attr-defined]
    endpoint = gpu_groups.item_endpoint(item)
    if endpoint is not None and getattr(item, "mm_kind", None) is None:
        return endpoint, python_case_id(item, endpoint), item_marker(item)
    return None


def collection_finish(session: pytest.Session) -> None:
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


def report_header(config: pytest.Config) -> str | None:
    state = bench_state(config)
    if state.settings.endpoints_path is None:
        return None
    ids = ", ".join(e.id for e in state.session.endpoints)
    return (
        f"mmbench: endpoints {ids} from {state.settings.endpoints_path}; "
        f"rounds={state.settings.rounds} warmup={state.settings.warmup}"
    )


def terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
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
