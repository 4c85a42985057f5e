"""Turning ``cases/mm_*.toml`` files into pytest items, one per (case, endpoint).

This follows pytest's non-python-tests pattern: a :class:`CaseFile` collector yields a
:class:`CaseItem` per case and endpoint, named ``<case>[<endpoint>]`` so ``-k`` selects
either, and marked with the case's modality so ``-m vision`` works.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_mmbench.glue.benchmark_bridge import benchmark_fixture, driver_for, record_extra_info
from pytest_mmbench.request.media import MediaError
from pytest_mmbench.results.outcome import CheckSpecError
from pytest_mmbench.results.records import LOAD_PROPERTY, PROPERTY, CaseResult
from pytest_mmbench.run.load.point import LoadSetupError, LoadUnsupported, run_load_point
from pytest_mmbench.run.session import EndpointUnavailable
from pytest_mmbench.run.single import run_case
from pytest_mmbench.spec.cases import Case, CaseError, load_case_file
from pytest_mmbench.spec.endpoints import Endpoint
from pytest_mmbench.spec.load_plan import LoadPoint, PlanError, load_points
from pytest_mmbench.spec.variants import apply_variant
from pytest_mmbench.state import BenchState, bench_state


class CaseFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            cases = load_case_file(self.path)
        except CaseError as exc:
            raise self.CollectError(str(exc)) from None
        state = bench_state(self.config)
        for case in cases:
            if case.load is not None:
                yield from self._load_items(case, state)
                continue
            for endpoint in state.session.endpoints:
                for way in [apply_variant(case, v) for v in endpoint.variants] or [case]:
                    yield CaseItem.from_parent(
                        self, name=f"{way.id}[{endpoint.id}]", case=way, endpoint=endpoint
                    )

    def _load_items(self, case: Case, state: BenchState) -> Iterator[pytest.Item]:
        assert case.load is not None
        try:
            points = load_points(case.load, state.settings.load)
        except PlanError as exc:
            raise self.CollectError(f"{self.path}: case {case.id!r}: {exc}") from None
        for endpoint in state.session.endpoints:
            for point in points:
                yield LoadItem.from_parent(
                    self,
                    name=f"{case.id}[{endpoint.id}-{point.label}]",
                    case=case,
                    endpoint=endpoint,
                    point=point,
                )


class CaseFailed(Exception):
    """The answer failed the case's check."""


class CaseErrored(Exception):
    """The request did not complete (HTTP error, timeout, broken stream, no server)."""


class CaseItem(pytest.Item):
    mm_kind = "case"  # how glue.runtime recognises it without importing this module

    def __init__(self, *, case: Case, endpoint: Endpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.endpoint = endpoint
        self.add_marker(case.marker)
        for mark in case.marks:
            self.add_marker(mark)
        self.result: CaseResult | None = None

    def runtest(self) -> None:
        state = bench_state(self.config)
        benchmark = benchmark_fixture(self)
        try:
            self.result = run_case(
                state.session,
                self.endpoint,
                self.case,
                rounds=state.settings.rounds,
                warmup=state.settings.warmup,
                driver=driver_for(benchmark),
            )
        except EndpointUnavailable as exc:
            raise CaseErrored(str(exc)) from None
        except (MediaError, CheckSpecError) as exc:  # e.g. an optional library is missing
            raise CaseErrored(f"case {self.case.id}: {exc}") from None
        record_extra_info(benchmark, self.result)
        self.user_properties.append((PROPERTY, state.finish_record(self.result)))
        if self.result.status == "unsupported":
            pytest.skip(
                f"endpoint {self.endpoint.id} cannot take {self.result.modality} input "
                f"({self.result.error})"
            )
        if self.result.status == "error":
            raise CaseErrored(self.result.error or "request failed")
        if self.result.status == "failed":
            raise CaseFailed()

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, CaseErrored):
            return f"endpoint {self.endpoint.id} error: {excinfo.value}"
        if isinstance(excinfo.value, CaseFailed) and self.result is not None:
            check = self.result.first_failed_check
            return "\n".join(
                [
                    f"case {self.case.id} failed its check on endpoint {self.endpoint.id}",
                    f"prompt:\n  {self.case.prompt_text()}".replace("\n", "\n  "),
                    f"check:  {dict(self.case.check)}",
                    f"result: {check.detail if check else 'n/a'}",
                    f"answer:\n  {self.result.answer}".replace("\n", "\n  "),
                ]
            )
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        # pytest needs a line number for skip locations; cases have none, so use 0.  The
        # trailing space keeps pytest -v from showing a "." in the name (a variant's id,
        # as in multiply.thinking-off) as "::", as it does for a Python class's methods.
        return self.path, 0, f"{self.case.id}[{self.endpoint.id}] "


class LoadFailed(Exception):
    """Some requests of a load point failed; the point's figures are still recorded."""


class LoadItem(pytest.Item):
    """One load point of a load case on one endpoint: ``<case>[<endpoint>-c8]``."""

    mm_kind = "load"

    def __init__(self, *, case: Case, endpoint: Endpoint, point: LoadPoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.endpoint = endpoint
        self.point = point
        self.add_marker("load")
        self.add_marker(case.marker)
        for mark in case.marks:
            self.add_marker(mark)

    def runtest(self) -> None:
        state = bench_state(self.config)
        try:
            row = run_load_point(
                state.session,
                self.endpoint,
                self.case,
                self.point,
            )
        except EndpointUnavailable as exc:
            raise CaseErrored(str(exc)) from None
        except LoadSetupError as exc:
            raise CaseErrored(f"endpoint {self.endpoint.id}: {exc}") from None
        except LoadUnsupported as exc:
            pytest.skip(f"endpoint {self.endpoint.id} cannot take image input ({exc})")
        self.user_properties.append((LOAD_PROPERTY, state.scrub_data(row)))
        if row["interrupted"]:
            message = (
                f"interrupted (Ctrl-C): {row['completed']} of {row['requests']} requests had "
                "completed and are kept in the report"
            )
            self.session.shouldstop = message  # stop the run after this point is reported
            raise LoadFailed(message)
        if row.get("partial"):
            died = [h for h in row["hosts"] if h["status"] == "died"]
            raise LoadFailed(
                f"partial point: client host {', '.join(h['spec'] for h in died)} died "
                f"({died[0]['error']}); {row['lost_with_client']} of {row['requests']} requests "
                f"were lost with it, the {row['completed']} completed are kept in the report"
            )
        if row["errors"]:
            examples = "; ".join(row["error_examples"])
            raise LoadFailed(
                f"{row['errors']} of {row['requests']} requests failed ({examples}); "
                "the others are measured in the report"
            )

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (LoadFailed, CaseErrored)):
            return f"load point {self.point.label} on endpoint {self.endpoint.id}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, self.name
