"""The per-process plugin state, kept in ``config.stash``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the plugin imports this module in every run: no heavy imports
    from pytest_mmbench.config import Settings
    from pytest_mmbench.results.records import CaseResult
    from pytest_mmbench.run.session import BenchSession


@dataclass
class BenchState:
    config: pytest.Config
    settings: Settings
    session: BenchSession

    def finish_record(self, result: CaseResult) -> dict[str, Any]:
        """Serialize a result and let ``pytest_mm_case_record`` implementations annotate it."""
        record = result.to_dict()
        record["extra"] = {}
        self.config.hook.pytest_mm_case_record(config=self.config, record=record)
        return self.scrub_data(record)

    def scrub_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` without secrets: records ride on test reports, which JUnit XML and
        xdist carry, so they are scrubbed before they leave the item."""
        if not self.session.secrets():
            return data
        import json

        text = self.scrub(json.dumps(data, ensure_ascii=False))
        clean: dict[str, Any] = json.loads(text)
        return clean

    def scrub(self, text: str) -> str:
        for secret in self.session.secrets():
            text = text.replace(secret, "***")
        return text

    def scrub_report(self, report: pytest.TestReport) -> None:
        """Replace secrets in a report's failure text or skip reason (terminal, JUnit)."""
        if not self.session.secrets():
            return
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and len(longrepr) == 3:  # a skip: (path, line, reason)
            report.longrepr = (longrepr[0], longrepr[1], self.scrub(str(longrepr[2])))
            return
        text = str(longrepr)
        clean = self.scrub(text)
        if clean != text:
            report.longrepr = clean


STATE_KEY = pytest.StashKey[BenchState]()
RUN_STARTED_KEY = pytest.StashKey[datetime]()  # set at configure, also when set-up waits


def is_active(config: pytest.Config) -> bool:
    """Whether the plugin has set itself up in this run (see ``plugin.py``)."""
    return STATE_KEY in config.stash


def bench_state(config: pytest.Config) -> BenchState:
    """The run's state, set up on first use: a case file or an ``mm_endpoint`` test was
    collected in a run that gave no mm setting."""
    if STATE_KEY not in config.stash:
        from pytest_mmbench.glue import runtime

        runtime.configure(config)
    return config.stash[STATE_KEY]
