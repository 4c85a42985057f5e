"""Feeding case rounds to pytest-benchmark, for users who already gate with it.

When pytest-benchmark is active (it disables itself under xdist), each case-file case
runs its rounds through a ``BenchmarkFixture.pedantic`` call: pytest-benchmark times the
request (its own timer, so its figure is end-to-end latency plus our stream reading),
while the telemetry window edges run in its setup/teardown, outside its timing.  Our
figures go into ``extra_info``, so ``--benchmark-json``, ``--benchmark-compare`` and
``--benchmark-histogram`` see them.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_mmbench.results.records import CaseResult
from pytest_mmbench.run.single import Driver, Rounds, plain_driver

SUMMARY_FIGURES = (
    "output_tok_s",
    "decode_tok_s",
    "ttft_ms",
    "e2e_ms",
    "tpot_ms",
    "output_tokens",
    "input_tokens",
    "energy_j",
    "tok_s_per_w",
)


def benchmark_fixture(item: pytest.Item) -> Any | None:
    """A pytest-benchmark fixture for a non-Python item, or None when it is not in use."""
    session = getattr(item.config, "_benchmarksession", None)
    if session is None or session.disabled or session.skip:
        return None
    from pytest_benchmark.fixture import BenchmarkFixture

    return BenchmarkFixture(  # type: ignore[no-untyped-call]
        item,
        add_stats=session.benchmarks.append,
        logger=session.logger,
        warner=item.warn,
        disabled=session.disabled,
        **session.options,
    )


def driver_for(fixture: Any | None) -> Driver:
    if fixture is None:
        return plain_driver

    def drive(rounds: Rounds, count: int) -> None:
        fixture.pedantic(
            rounds.request,
            setup=rounds.open,
            teardown=lambda: rounds.close(),
            rounds=count,
            iterations=1,
            warmup_rounds=0,
        )

    return drive


def record_extra_info(fixture: Any | None, result: CaseResult) -> None:
    if fixture is None:
        return
    summary = result.summary()
    fixture.extra_info["mmbench"] = {
        "endpoint": result.endpoint,
        "case_id": result.case_id,
        "status": result.status,
        **{name: summary[name]["mean"] for name in SUMMARY_FIGURES if name in summary},
    }
    fixture._cleanup()  # what pytest-benchmark's own fixture does when the test ends
