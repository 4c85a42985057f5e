"""``expect_fail`` in hosts.toml must name cases that exist: a typo is a usage error.

Checked once collection has tagged each benchmark item with its identity, and before
``-k`` / ``-m`` deselect anything, so a case left out by a selection still counts as
known.  A run narrowed to some files or node ids (or ``--lf``) has not collected every
case, and an endpoint with no collected benchmark item has nothing to check against:
both are left alone rather than flagging ids that may well exist elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from pytest_mmbench.results.records import IDENTITY, find_property
from pytest_mmbench.spec.endpoints import Endpoint

SHOWN_KNOWN = 20  # known ids listed in the error; the rest are counted


def expected_to_fail(endpoint: Endpoint, case_id: str) -> bool:
    """``expect_fail`` lists case ids or glob patterns (``tool-*``): a suite a small model
    cannot pass is listed once, not case by case."""
    return any(fnmatchcase(case_id, pattern) for pattern in endpoint.expect_fail)


def _is_pattern(entry: str) -> bool:
    return any(c in entry for c in "*?[")


def check_expect_fail(
    config: pytest.Config, endpoints: Iterable[Endpoint], items: list[pytest.Item]
) -> None:
    """Raise :class:`pytest.UsageError` if an endpoint expects an unknown case to fail.

    Under pytest-xdist the controller collects nothing and a worker's UsageError never
    reaches the terminal, so a worker reports the problem as a collection error of the
    hosts file instead (shown once, under ERRORS) and runs no test.
    """
    if _narrowed(config):
        return
    known: dict[str, set[str]] = {}
    for item in items:
        identity = find_property(item.user_properties, IDENTITY)
        if isinstance(identity, dict):
            known.setdefault(identity["endpoint"], set()).add(identity["case_id"])
    for endpoint in endpoints:
        ids = known.get(endpoint.id, set())
        # A pattern covers a suite that a run may well leave out, so only plain ids are
        # held to existing: a typo in one of those is the mistake worth stopping for.
        unknown = [p for p in endpoint.expect_fail if not _is_pattern(p) and p not in ids]
        if not ids or not unknown:
            continue
        shown = sorted(ids)[:SHOWN_KNOWN]
        more = f" (and {len(ids) - len(shown)} more)" if len(ids) > len(shown) else ""
        message = (
            f"{endpoint.source}: endpoint {endpoint.id!r}: key 'expect_fail' names unknown "
            f"case ids {unknown}; known case ids: {', '.join(shown)}{more}"
        )
        if not hasattr(config, "workerinput"):
            raise pytest.UsageError(message)
        report = pytest.CollectReport(endpoint.source, "failed", message, [])
        config.hook.pytest_collectreport(report=report)
        items.clear()
        return


def _narrowed(config: pytest.Config) -> bool:
    """Whether collection was limited to some files or node ids, so cases may be missing."""
    if config.getoption("lf", False):
        return True
    here = config.invocation_params.dir
    return any("::" in arg or not Path(here, arg).is_dir() for arg in config.args)
