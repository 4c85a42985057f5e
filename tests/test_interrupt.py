"""Ctrl-C during a load point keeps the requests that completed before it.

A real run in its own process group gets SIGINT the way a terminal sends it (to the
whole foreground group), in the middle of a load point against the embedded server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support import interrupt_pytest, load_report


@pytest.mark.parametrize(
    "loop",
    ["concurrency = [1]", "rate = [1.5], max_concurrency = 4"],
    ids=["closed-loop", "open-loop"],
)
def test_sigint_during_a_load_point_keeps_its_completed_requests(tmp_path: Path, loop: str) -> None:
    (tmp_path / "hosts.toml").write_text('[endpoints.local]\nlaunch = "embedded"\n')
    (tmp_path / "mm_load.toml").write_text(
        '[[case]]\nid = "chat"\nmodality = "text"\n'
        f"load = {{ {loop}, requests = 80, input_tokens = 40, output_tokens = 24 }}\n"
    )
    returncode, output = interrupt_pytest(
        tmp_path,
        ["mm_load.toml", "--mm-endpoints=hosts.toml", "-p", "no:benchmark", "-p", "no:xdist"],
        after_s=8.0,  # some requests complete (0.3 to 1 s each here), far from all 80
    )
    assert returncode == 2, output  # pytest's "interrupted"
    (row,) = load_report(tmp_path / "mmbench-report.json")["load"]["local"]
    assert row["interrupted"] is True, output
    assert 1 <= row["completed"] < 80 and row["errors"] == 0
    assert row["requests"] == row["completed"] + row["in_flight_at_interrupt"]
    assert row["output_tok_s"] is not None and row["ttft_ms"]["n"] == row["completed"]
    assert "interrupted (Ctrl-C)" in output
