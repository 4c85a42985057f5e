"""What xdist workers learn about endpoints reaches the main process's report.

Case records ride on test reports, but an endpoint's runtime (its probed capabilities,
warm-up requests, server start, the power timeline its sampler kept) lives in each
worker's session.  Workers put it in ``workeroutput`` when they finish; the controller
merges it in ``pytest_testnodedown`` (the pytest-cov pattern).  Registered only when
xdist is active, so its hooks exist.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_mmbench.run.session import BenchSession

WORKER_KEY = "mmbench_runtime"
RUN_ID_KEY = "mmbench_run_id"


def worker_run_id(config: pytest.Config) -> str | None:
    """The controller's run id, on a worker; None elsewhere."""
    found = getattr(config, "workerinput", {}).get(RUN_ID_KEY)
    return str(found) if found else None


class WorkerRuntime:
    """On a worker: hand the endpoints' runtime back when the session ends."""

    def __init__(self, session: BenchSession) -> None:
        self.session = session

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        output = getattr(session.config, "workeroutput", None)
        if output is None:
            return
        worker = getattr(session.config, "workerinput", {}).get("workerid")
        described = {}
        for endpoint_id in self.session.runtime:
            runtime = self.session.describe_runtime(endpoint_id)
            for timeline in runtime["power_timeline"]:
                timeline["worker"] = worker  # which process sampled it
            described[endpoint_id] = runtime
        output[WORKER_KEY] = described


class ControllerRuntime:
    """On the controller: one run id for every worker, and merge what each learned."""

    def __init__(self, session: BenchSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[RUN_ID_KEY] = self.session.run_id  # the same prompt tags everywhere

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        found = (getattr(node, "workeroutput", None) or {}).get(WORKER_KEY) or {}
        for endpoint_id, described in found.items():
            runtime = self.session.runtime.get(endpoint_id)
            if runtime is not None:
                runtime.merge(described)


def register(config: pytest.Config, session: BenchSession) -> None:
    if not config.pluginmanager.hasplugin("xdist"):
        return
    if hasattr(config, "workerinput"):
        config.pluginmanager.register(WorkerRuntime(session), "mmbench-xdist-worker")
    else:  # its hooks only fire if this run has workers (-n, --tx, --dist)
        config.pluginmanager.register(ControllerRuntime(session), "mmbench-xdist-controller")
