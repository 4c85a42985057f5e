"""Feeding case rounds to pytest-benchmark, for users who already gate with it.

Only when asked: ``--mm-benchmark``, or any ``--benchmark-*`` option.  Being installed
for some other reason is no request; it would print a second, 200-column table after
ours.  When asked and active (it disables itself under xdist), each case-file case
runs its rounds through a ``BenchmarkFixture.pedantic`` call: pytest-benchmark times the
request (its own timer, so its figure is end-to-end latency plus our stream reading),
while the telemetry window edges run in its setup/teardown, outside its timing.  Our
figures go into ``extra_info``, so ``--benchmark-json``, ``--benchmark-compare`` and
``--benchmark-histogram`` see them.
"""

from __future__ import annotations

import os
import shlex
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the runner (and httpx with it) loads only once a case runs
    from pytest_mmbench.results.records import CaseResult
    from pytest_mmbench.run.single import Driver, Rounds

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


MINIMUM_VERSION = (5, 2)


def bridge_requested(config: pytest.Config) -> bool:
    """``--mm-benchmark``, or a ``--benchmark-*`` option on the command line or in addopts."""
    if config.getoption("mm_benchmark", False):
        return True
    words = [
        *map(str, config.invocation_params.args),
        *shlex.split(os.environ.get("PYTEST_ADDOPTS", "")),
        *config.getini("addopts"),
    ]
    return any(word.startswith("--benchmark-") for word in words)


def check_bridge(config: pytest.Config) -> bool:
    """Whether the bridge runs; a request it cannot serve is a usage error."""
    if not bridge_requested(config):
        return False
    try:
        found = version("pytest-benchmark")
    except PackageNotFoundError:
        raise pytest.UsageError(
            "--mm-benchmark needs pytest-benchmark; pip install 'pytest-mmbench[benchmark]'"
        ) from None
    parts = tuple(int(p) for p in found.split(".")[:2] if p.isdigit())
    if parts < MINIMUM_VERSION:
        raise pytest.UsageError(
            f"--mm-benchmark needs pytest-benchmark >= 5.2 (found {found}); "
            "pip install -U 'pytest-benchmark>=5.2'"
        )
    return True


def benchmark_fixture(item: pytest.Item) -> Any | None:
    """A pytest-benchmark fixture for a non-Python item, or None when it is not in use."""
    if not bench_bridge_on(item.config):
        return None
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


_BRIDGE_KEY = pytest.StashKey[bool]()


def bench_bridge_on(config: pytest.Config) -> bool:
    if _BRIDGE_KEY not in config.stash:
        config.stash[_BRIDGE_KEY] = check_bridge(config)
    return config.stash[_BRIDGE_KEY]


def driver_for(fixture: Any | None) -> Driver:
    if fixture is None:
        from pytest_mmbench.run.single import plain_driver

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
