"""Fixtures for benchmark cases written as ordinary pytest tests.

``mm_endpoint`` is parametrized over the run's endpoints (see ``pytest_generate_tests``
in the plugin), and ``mm_bench`` sends measured requests to it, recording each one on
the test report exactly like a case from a ``cases/`` file::

    @pytest.mark.text
    def test_haiku(mm_bench):
        result = mm_bench.chat("Write a haiku about GPUs.", max_tokens=64)
        assert len(result.answer.splitlines()) >= 3
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pytest

from pytest_mmbench.modalities import MARKER_MODALITY
from pytest_mmbench.options import DEFAULT_MAX_TOKENS, DEFAULT_SEED
from pytest_mmbench.state import bench_state

if TYPE_CHECKING:  # registered in every run: the request core loads on first use
    from pytest_mmbench.results.records import CaseResult
    from pytest_mmbench.spec.endpoints import Endpoint


def item_marker(item: pytest.Item) -> str:
    """The modality marker of a test (text when it has none)."""
    for name in MARKER_MODALITY:
        if item.get_closest_marker(name) is not None:
            return name
    return "text"


class Bench:
    """Sends measured chat requests to one endpoint on behalf of one test."""

    def __init__(self, item: pytest.Item, endpoint: Endpoint, case_id: str) -> None:
        self._item = item
        self.endpoint = endpoint
        self.case_id = case_id
        self._calls = 0

    def chat(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        system: str | None = None,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        check: Mapping[str, Any] | None = None,
        temperature: float = 0.0,
        seed: int | None = DEFAULT_SEED,
        extra_body: Mapping[str, Any] | None = None,
        images: Sequence[Mapping[str, Any]] | None = None,
        audio: Sequence[Mapping[str, Any]] | None = None,
        video: Mapping[str, Any] | None = None,
    ) -> CaseResult:
        """Run one measured request (``--mm-rounds`` times) and record it on the report.

        Raises when the endpoint fails (HTTP error, timeout, broken stream), so the test
        errors with the server's message; an answer failing ``check`` is returned with
        ``status == "failed"`` for the test to assert on.
        """
        from pytest_mmbench.glue.items import CaseErrored
        from pytest_mmbench.results.records import PROPERTY
        from pytest_mmbench.run.session import EndpointUnavailable
        from pytest_mmbench.run.single import run_case
        from pytest_mmbench.spec.cases import CaseError, parse_case

        self._calls += 1
        case_id = self.case_id if self._calls == 1 else f"{self.case_id}#{self._calls}"
        entry: dict[str, Any] = {
            "id": "python-test",
            "modality": item_marker(self._item),
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": seed,
            "extra_body": dict(extra_body or {}),
        }
        if messages is not None:
            entry["messages"] = [dict(m) for m in messages]
        else:
            entry["prompt"] = prompt
            if system is not None:
                entry["system"] = system
        if check is not None:
            entry["check"] = dict(check)
        # Media as in case files ({"file": ..., "size": ...}); paths relative to the test file.
        for key, value in (("images", images), ("audio", audio)):
            if value is not None:
                entry[key] = [dict(v) for v in value]
        if video is not None:
            entry["video"] = dict(video)
        try:
            case = parse_case(
                entry, self._item.nodeid, source=str(self._item.path), require_check=False
            )
        except CaseError as exc:
            raise ValueError(f"mm_bench.chat: {exc}") from None
        case = dataclasses.replace(case, id=case_id)
        state = bench_state(self._item.config)
        try:
            result = run_case(
                state.session,
                self.endpoint,
                case,
                rounds=state.settings.rounds,
                warmup=state.settings.warmup,
            )
        except EndpointUnavailable as exc:
            raise CaseErrored(str(exc)) from None
        self._item.user_properties.append((PROPERTY, state.finish_record(result)))
        if result.status == "unsupported":
            pytest.skip(f"endpoint {self.endpoint.id}: {result.error}")
        if result.status == "error":
            raise CaseErrored(f"endpoint {self.endpoint.id}: {result.error}")
        return result


@pytest.fixture
def mm_endpoint(request: pytest.FixtureRequest) -> Endpoint:
    """The endpoint this test runs against (the test is repeated per endpoint)."""
    from pytest_mmbench.spec.endpoints import Endpoint

    param = getattr(request, "param", None)
    if not isinstance(param, Endpoint):
        raise pytest.UsageError("mm_endpoint is parametrized by pytest-mmbench; do not override it")
    return param


@pytest.fixture
def mm_bench(request: pytest.FixtureRequest, mm_endpoint: Endpoint) -> Bench:
    """Measured requests to ``mm_endpoint``, recorded into the mmbench report."""
    return Bench(request.node, mm_endpoint, python_case_id(request.node, mm_endpoint))


def python_case_id(item: pytest.Item, endpoint: Endpoint) -> str:
    """The test's name with the ids of its parameters other than ``mm_endpoint``.

    pytest keeps one id per parametrize call (``callspec._idlist``; joined with "-" they
    make ``callspec.id``), and the plugin's call contributes exactly ``endpoint.id``.
    Dropping that one entry, never splitting on "-", keeps ids such as ``gemma-3090``
    or a parameter ``a-local`` whole, so a case has the same id on every endpoint.
    """
    callspec = getattr(item, "callspec", None)
    base = getattr(item, "originalname", item.name)
    if callspec is None:
        return base
    ids = [str(i) for i in getattr(callspec, "_idlist", [callspec.id])]
    matches = [n for n, part in enumerate(ids) if part == endpoint.id]
    if matches:
        # Another parameter may have the same id: take the entry at or before the
        # place of mm_endpoint among the parameters (calls add their names in order).
        names = list(callspec.params)
        place = names.index("mm_endpoint") if "mm_endpoint" in names else len(ids)
        del ids[max((n for n in matches if n <= place), default=matches[0])]
    return f"{base}[{'-'.join(ids)}]" if ids else base
