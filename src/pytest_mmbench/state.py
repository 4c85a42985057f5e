"""The per-process plugin state, kept in ``config.stash``."""

from __future__ import annotations

from dataclasses import dataclass
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
        return record


STATE_KEY = pytest.StashKey[BenchState]()


def bench_state(config: pytest.Config) -> BenchState:
    return config.stash[STATE_KEY]
