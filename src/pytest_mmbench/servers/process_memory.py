"""The resident memory of a managed server: every process of its process group.

A server command is often a launcher with workers under it (vLLM's API server and
engine core, a shell running python), so the figure sums the whole group, read from
``/proc`` once the server answers ready and before its first case: seed 000's
per-model memory baseline where there is no GPU telemetry to give VRAM.
"""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def group_rss_mib(group: int) -> tuple[float | None, str | None]:
    """(MiB resident in process group ``group``, reason where it cannot be read)."""
    if not PROC.is_dir():
        return None, "no /proc on this system: resident memory not read"
    total_kib, found = 0, 0
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
            if int(fields[2]) != group:  # state, ppid, pgrp
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
                    found += 1
        except (OSError, ValueError, IndexError):  # it ended while we looked
            continue
    if not found:
        return None, f"no process of group {group} is running"
    return total_kib / 1024, None
