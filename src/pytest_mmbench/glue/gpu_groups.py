"""Managed servers that share a GPU: ordered so each starts once, never side by side.

Endpoints with one ``gpu_group`` are served one after another (the session stops one
group member's server before it starts the next).  Ordering their items endpoint by
endpoint, after every other plugin has reordered (``trylast``, so after
pytest-randomly too), means each server starts once.  Under xdist the items of a group
carry ``xdist_group`` and the run needs ``--dist loadgroup``, so one worker takes the
whole group; otherwise two workers could start two servers on one GPU.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_mmbench.spec.endpoints import Endpoint


def item_endpoint(item: pytest.Item) -> Endpoint | None:
    found = getattr(item, "endpoint", None)  # case and load items
    if isinstance(found, Endpoint):
        return found
    callspec = getattr(item, "callspec", None)
    param = callspec.params.get("mm_endpoint") if callspec is not None else None
    return param if isinstance(param, Endpoint) else None


def grouped_order(items: Sequence[pytest.Item]) -> list[pytest.Item]:
    """Items of one gpu_group together at the group's first place, endpoint by endpoint
    in order of first appearance; every other item keeps its place."""
    first_seen: dict[tuple[str, str], int] = {}
    keys = []
    for index, item in enumerate(items):
        endpoint = item_endpoint(item)
        group = endpoint.gpu_group if endpoint is not None else None
        if endpoint is None or group is None:
            keys.append((index, 0, index))
            continue
        anchor = first_seen.setdefault((group, ""), index)
        order = first_seen.setdefault((group, endpoint.id), index)
        keys.append((anchor, order, index))
    return [item for _, item in sorted(zip(keys, items, strict=True), key=lambda pair: pair[0])]


class GpuGroups:
    def __init__(self, endpoints: Sequence[Endpoint]) -> None:
        self.groups = {e.gpu_group for e in endpoints if e.gpu_group}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        items[:] = grouped_order(items)
        if config.pluginmanager.hasplugin("xdist"):
            for item in items:
                endpoint = item_endpoint(item)
                if endpoint is not None and endpoint.gpu_group:
                    item.add_marker(pytest.mark.xdist_group(f"gpu-{endpoint.gpu_group}"))


def register(config: pytest.Config, endpoints: Sequence[Endpoint]) -> None:
    """Order grouped items; refuse an xdist mode that could overlap a group's servers."""
    plugin = GpuGroups(endpoints)
    if not plugin.groups:
        return
    workers = getattr(config.option, "numprocesses", None)
    dist = getattr(config.option, "dist", "no")
    if not hasattr(config, "workerinput") and (workers or dist != "no") and dist != "loadgroup":
        raise pytest.UsageError(
            f"endpoints with gpu_group ({', '.join(sorted(plugin.groups))}) need "
            "--dist loadgroup under xdist, so one worker runs a group's servers in turn"
        )
    config.pluginmanager.register(plugin, "mmbench-gpu-groups")
