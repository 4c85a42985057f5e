"""pytest glue: the hooks pytest calls, each handing over to the module that does the work.

Importing this module is nearly free (the option table, the hook specs and the
fixtures, none of which import the request core, httpx or telemetry), and so is a run
that collects no benchmark case: ``glue.runtime`` (settings, hosts, the session, the
report collector) is loaded at configure time only when an mm setting is given, the
pytest-benchmark bridge is asked for, or xdist workers will run; else when the first
case file or ``mm_endpoint`` test is collected (``state.bench_state``).  Every later
hook does nothing until then.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_mmbench import hookspecs, options
from pytest_mmbench.glue import fixtures
from pytest_mmbench.glue.benchmark_bridge import bridge_requested
from pytest_mmbench.state import RUN_STARTED_KEY, STATE_KEY, is_active


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RUN_STARTED_KEY] = datetime.now(timezone.utc)
    for name, text in options.MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.pluginmanager.register(fixtures, "mmbench-fixtures")
    if options.settings_given(config) or bridge_requested(config) or _xdist_controller(config):
        from pytest_mmbench.glue import runtime

        runtime.configure(config)


def _xdist_controller(config: pytest.Config) -> bool:
    """A run that hands items to xdist workers: this process collects nothing itself,
    yet must give its workers one run id and collect their records."""
    if hasattr(config, "workerinput"):
        return False
    option = config.option
    return bool(getattr(option, "numprocesses", None) or getattr(option, "tx", None)) or (
        getattr(option, "dist", "no") != "no"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop managed servers before the report is built, so it records how they ended."""
    state = session.config.stash.get(STATE_KEY, None)
    if state is not None:
        state.session.stop_servers()


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE_KEY, None)
    if state is not None:
        state.session.close()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    patterns = parent.config.getini("mm_case_files")
    if file_path.suffix == ".toml" and any(fnmatch.fnmatch(file_path.name, p) for p in patterns):
        from pytest_mmbench.glue.items import CaseFile

        return CaseFile.from_parent(parent, path=file_path)
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "mm_endpoint" in metafunc.fixturenames:
        from pytest_mmbench.glue import runtime

        runtime.generate_tests(metafunc)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not is_active(config):
        return
    from pytest_mmbench.glue import runtime

    runtime.collection_modifyitems(config, items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Failure texts and skip reasons never carry an API key (a server may echo it)."""
    report = yield
    state = item.config.stash.get(STATE_KEY, None)
    if state is not None and report.longrepr is not None:
        state.scrub_report(report)
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    if not is_active(session.config):
        return
    from pytest_mmbench.glue import runtime

    runtime.collection_finish(session)


def pytest_report_header(config: pytest.Config) -> str | None:
    if not is_active(config):
        return None
    from pytest_mmbench.glue import runtime

    return runtime.report_header(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if not is_active(config):
        return
    from pytest_mmbench.glue import runtime

    runtime.terminal_summary(terminalreporter, config)
