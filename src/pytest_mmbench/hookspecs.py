"""Hooks that let a project extend pytest-mmbench from its conftest.py."""

from __future__ import annotations

from typing import Any

import pluggy
import pytest

hookspec = pluggy.HookspecMarker("pytest")


@hookspec
def pytest_mm_run_metadata(config: pytest.Config, metadata: dict[str, Any]) -> None:
    """Add or change run metadata before the report is written (main process only).

    Example, recording which driver the GPU host ran::

        def pytest_mm_run_metadata(config, metadata):
            metadata["driver"] = "580.65"
    """


@hookspec
def pytest_mm_case_record(config: pytest.Config, record: dict[str, Any]) -> None:
    """Inspect or annotate one (endpoint, case) record where the case ran.

    Runs in the process that ran the case (an xdist worker included), before the
    record rides on the test report.  Add keys under ``record["extra"]``; the report
    schema allows anything there.  Example::

        def pytest_mm_case_record(config, record):
            record["extra"]["answer_chars"] = len(record["answer"] or "")
    """
