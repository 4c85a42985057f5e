"""pytest glue: the hooks pytest calls, each handing over to the module that does the work.

Importing this module is nearly free (the option table, the hook specs and the
fixtures, none of which import the request core, httpx or telemetry): a project that
collects no benchmark case pays for none of it.  ``glue.runtime`` is loaded at
configure time, the case-file collector only when a case file matches.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

import pytest

from pytest_mmbench import hookspecs, options
from pytest_mmbench.glue import fixtures
from pytest_mmbench.state import STATE_KEY


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in options.MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    config.pluginmanager.register(fixtures, "mmbench-fixtures")
    from pytest_mmbench.glue import runtime

    runtime.configure(config)


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
    from pytest_mmbench.glue import runtime

    runtime.collection_finish(session)


def pytest_report_header(config: pytest.Config) -> str | None:
    from pytest_mmbench.glue import runtime

    return runtime.report_header(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    from pytest_mmbench.glue import runtime

    runtime.terminal_summary(terminalreporter, config)
