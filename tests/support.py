"""Helpers shared by the test modules (imported, unlike fixtures)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pytest_mmbench.schema import validate_report

REPO = Path(__file__).resolve().parent.parent


def load_report(path: Path) -> dict[str, Any]:
    """Read a report and validate it against the shipped schema (every test does)."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    validate_report(document)
    return document


def records_by_case(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["endpoint"], r["case_id"]): r for r in document["records"]}


def case_file(
    folder: Path,
    *ids: str,
    contains: str = "Paris",
    prompt: str = "x",
    name: str = "mm_one.toml",
    system: str = "You are a helpful assistant.",
) -> Path:
    """Write a case file with one text case per id, each checking for ``contains``."""
    body = "".join(
        f'[[case]]\nid = "{case_id}"\nmodality = "text"\nsystem = "{system}"\n'
        f'prompt = "{prompt}"\nmax_tokens = 16\ncheck = {{ contains = "{contains}" }}\n'
        for case_id in ids
    )
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def load_case_file(folder: Path, load: str, case_id: str = "chat") -> Path:
    """``mm_load.toml`` with one text load case, e.g. ``load="concurrency = [4], requests = 8"``."""
    path = folder / "mm_load.toml"
    with path.open("a", encoding="utf-8") as out:
        out.write(f'[[case]]\nid = "{case_id}"\nmodality = "text"\nload = {{ {load} }}\n')
    return path


def interrupt_pytest(folder: Path, args: list[str], after_s: float) -> tuple[int, str]:
    """Run pytest in ``folder`` in its own process group, like a terminal's foreground
    job, and send the group SIGINT ``after_s`` seconds after the load item has started.
    (exit status, everything it printed)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", *args, "-v", "-p", "no:cacheprovider"]
    process = subprocess.Popen(
        command,
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    assert process.stdout is not None
    seen = b""
    deadline = time.monotonic() + 60
    while b"mm_load.toml::chat" not in seen and time.monotonic() < deadline:
        seen += process.stdout.read1(4096)  # the item's line: the point has started
    time.sleep(after_s)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return process.returncode, (seen + output).decode("utf-8", "replace")
