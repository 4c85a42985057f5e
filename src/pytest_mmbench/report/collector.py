"""The main-process collector: gathers per-case records from test reports, writes the JSON.

Only the process that owns the terminal (never an xdist worker) registers this
plugin.  Records arrive on ``TestReport.user_properties`` whether the case ran here
or on a worker, so nothing else crosses processes.  The report is written at session
end even when the run was interrupted, atomically, and with every secret scrubbed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_mmbench import __version__
from pytest_mmbench.results.cost import endpoint_cost
from pytest_mmbench.results.evals import eval_summary
from pytest_mmbench.results.records import (
    IDENTITY,
    LOAD_PROPERTY,
    PROPERTY,
    SCHEMA_VERSION,
    error_record,
    find_property,
    skipped_record,
)
from pytest_mmbench.results.stats import endpoint_energy, summarize_endpoint


def _now() -> str:
    return _iso(_dt.datetime.now(_dt.timezone.utc))


def _iso(moment: _dt.datetime) -> str:
    return moment.astimezone(_dt.timezone.utc).isoformat(timespec="milliseconds")


class ReportCollector:
    def __init__(
        self,
        config: pytest.Config,
        report_path: Path,
        describe_endpoints: Callable[[], list[dict[str, Any]]],
        secrets: list[str],
        run_settings: dict[str, Any],
        decide: Callable[[dict[str, Any]], list[str]] | None = None,
        outputs: Callable[[dict[str, Any]], list[str]] | None = None,
        started_at: _dt.datetime | None = None,
    ) -> None:
        self.config = config
        self.report_path = report_path
        self._describe_endpoints = describe_endpoints
        self._secrets = [s for s in secrets if s]
        self._run_settings = run_settings
        self._decide = decide
        self._outputs = outputs
        self.failures: list[str] = []
        self.extra_outputs: list[str] = []
        self.started_at = _iso(started_at) if started_at is not None else _now()
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.load_rows: dict[str, dict[str, Any]] = {}
        self.mm_items = 0
        self.document: dict[str, Any] | None = None
        self.written: Path | None = None
        self.write_error: str | None = None

    # -- collecting -------------------------------------------------------------------------

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.mm_items = sum(1 for i in items if any(k == IDENTITY for k, _ in i.user_properties))

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        load_row = find_property(report.user_properties, LOAD_PROPERTY)
        if load_row is not None and report.when == "call":
            self.load_rows[report.nodeid] = {**load_row, "pytest_outcome": report.outcome}
        identity = find_property(report.user_properties, IDENTITY)
        if identity is None:
            return
        finished: list[dict[str, Any]] = [
            v for k, v in report.user_properties if k == PROPERTY and isinstance(v, dict)
        ]
        outcome = _outcome(report)
        if report.when == "call" or (report.when == "setup" and not report.passed):
            if finished:
                self.records[report.nodeid] = [
                    _with_outcome(record, outcome, report) for record in finished
                ]
            elif report.skipped:
                reason = _skip_reason(report)
                self.records[report.nodeid] = [skipped_record(identity, reason)]
            elif report.failed:
                message = report.longreprtext.strip().splitlines()
                text = message[-1] if message else "failed before any request was sent"
                self.records[report.nodeid] = [
                    {**error_record(identity, text), "pytest_outcome": outcome}
                ]

    # -- writing ----------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.records and not self.mm_items and not self.load_rows:
            return  # no benchmark case in this run: write nothing, cost nothing
        self.document = self._scrubbed(self.build(int(exitstatus)))
        if self._decide is not None:
            self.failures = self._decide(self.document)
            if self.failures and session.exitstatus == pytest.ExitCode.OK:
                # Like pytest-cov's --cov-fail-under: a clean exit status, no traceback.
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
                self.document["run"]["exit_status"] = int(session.exitstatus)
        try:
            self._write(self.document)
        except OSError as exc:
            self.write_error = f"could not write {self.report_path}: {exc}"
        if self._outputs is not None:
            try:
                self.extra_outputs = self._outputs(self.document)
            except OSError as exc:
                self.extra_outputs = [f"could not write the HTML report or plots: {exc}"]

    def build(self, exitstatus: int) -> dict[str, Any]:
        records = [r for group in self.records.values() for r in group]
        endpoints = self._describe_endpoints()
        summary = {}
        for endpoint in endpoints:
            own = [r for r in records if r["endpoint"] == endpoint["id"]]
            row = summarize_endpoint(own)
            row["telemetry"] = endpoint_energy(own, row["mean_output_tok_s"])
            row["evals"] = eval_summary(own)
            row["cost"] = endpoint_cost(own, endpoint.get("price"))
            summary[endpoint["id"]] = row
        metadata: dict[str, Any] = {
            "started_at": self.started_at,
            "finished_at": _now(),
            "plugin_version": __version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "command_line": [sys.executable, *sys.argv[1:]] if sys.argv else [],
            "git_commit": _git_commit(self.config.rootpath),
            "exit_status": exitstatus,
            "interrupted": exitstatus == pytest.ExitCode.INTERRUPTED,
            **self._run_settings,
        }
        self.config.hook.pytest_mm_run_metadata(config=self.config, metadata=metadata)
        load: dict[str, list[dict[str, Any]]] = {}
        for row in self.load_rows.values():
            load.setdefault(row["endpoint"], []).append(row)
        extra = {"load": load} if load else {}
        return {
            **extra,
            "schema_version": SCHEMA_VERSION,
            "run": metadata,
            "endpoints": endpoints,
            "records": records,
            "summary": summary,
        }

    def _scrubbed(self, document: dict[str, Any]) -> dict[str, Any]:
        """The document with every secret replaced, before the terminal, the decisions,
        the HTML page or the file see it: a server may echo a key in an error message."""
        if not self._secrets:
            return document
        text = json.dumps(document, ensure_ascii=False, allow_nan=False)
        for secret in self._secrets:
            text = text.replace(json.dumps(secret)[1:-1], "***")
        scrubbed: dict[str, Any] = json.loads(text)
        return scrubbed

    def _write(self, document: dict[str, Any]) -> None:
        text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
        self.report_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".mmbench-", suffix=".json", dir=self.report_path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
            os.replace(tmp, self.report_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.written = self.report_path


def _outcome(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    return report.outcome


def _with_outcome(
    record: dict[str, Any], outcome: str, report: pytest.TestReport
) -> dict[str, Any]:
    """A Python test's own assertion can fail a request whose record says passed."""
    merged = {**record, "pytest_outcome": outcome}
    if merged["status"] == "passed" and report.failed:
        merged["status"] = "failed"
        merged["check"] = {"passed": False, "detail": "the test's own assertion failed"}
    return merged


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None
