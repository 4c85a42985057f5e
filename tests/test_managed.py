"""Managed servers: real server commands started, waited for, measured and stopped.

The server is the embedded llama.cpp model run as its own process
(``python -m pytest_mmbench.serve``), launched from hosts.toml like vLLM would be.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from support import case_file, load_report, records_by_case

SERVE = [sys.executable, "-m", "pytest_mmbench.serve", "--port", "{port}"]


def launched(endpoint_id: str, command: list[str], extra: str = "") -> str:
    return (
        f'[endpoints.{endpoint_id}]\nmodel = "smollm2"\n'
        f"launch = {{ command = {json.dumps(command)}{extra} }}\n"
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def with_marker(marker: str) -> list[int]:
    """Processes whose command line holds ``marker``: what a run must not leave behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return [pid for pid in found if alive(pid)]


def test_two_servers_of_one_gpu_group_run_in_turn(pytester, write_hosts) -> None:
    marker = f"group-{uuid.uuid4().hex[:8]}"
    hosts = "".join(
        launched(name, [*SERVE, "--name", f"{marker}-{name}"], ', ready = "/health"')
        + 'gpu_group = "cpu0"\n'
        for name in ("first", "second")
    )
    write_hosts(hosts)
    case_file(pytester.path, "capital", "summary", contains=" ", prompt="Name a city.")
    result = pytester.runpytest_inprocess(
        "mm_one.toml", "--mm-endpoints=hosts.toml", "--mm-rounds=2", "-p", "no:randomly"
    )
    result.assert_outcomes(passed=4)
    document = load_report(pytester.path / "mmbench-report.json")
    order = [r["endpoint"] for r in document["records"]]
    assert order == ["first", "first", "second", "second"]  # grouped: each server starts once
    runs: dict[str, dict[str, Any]] = {}
    for endpoint in document["endpoints"]:
        runtime = endpoint["runtime"]
        (run,) = runtime["server_runs"]
        runs[endpoint["id"]] = run
        assert endpoint["launch"] == "command" and endpoint["gpu_group"] == "cpu0"
        assert 0 < run["cold_start_s"] < 60 and runtime["server_start_s"] == run["cold_start_s"]
        assert run["stopped_by"] == "SIGTERM" and run["exit_code"] == 0
        # the model is loaded when it answers ready: SmolLM2-135M's weights alone are ~100 MiB
        assert run["memory_mib_at_ready"] > 100 and run["memory_reason"] is None
        log = Path(runtime["server_log"]).read_text()
        assert f"{marker}-{endpoint['id']}" in log and "stopped" in log
        assert not alive(run["pid"])
    # Never at the same time: the first server stopped before the second started.
    assert runs["first"]["stopped_at"] <= runs["second"]["started_at"]
    # Start and stop are outside every measured request, each inside its own server's life.
    records = records_by_case(document)
    for (endpoint_id, _), record in records.items():
        run = runs[endpoint_id]
        for round_ in record["rounds"]:
            start = round_["wall_start"]
            end = start + round_["metrics"]["e2e_ms"] / 1000
            assert run["ready_at"] <= start and end <= run["stopped_at"]
            for other in runs.values():
                for edge in (other["started_at"], other["ready_at"], other["stopped_at"]):
                    assert not start <= edge <= end
    result.stdout.fnmatch_lines(
        [
            "first server: cold start * s, * MiB resident at ready, 1 start(s), stopped by "
            "SIGTERM, gpu_group cpu0; log *"
        ]
    )
    assert with_marker(marker) == []


def test_a_command_that_exits_at_once_is_one_error_and_the_others_run(
    pytester, write_hosts, llama_url
) -> None:
    crash = [sys.executable, "-c", "import sys; print('unknown flag --bogus'); sys.exit(3)"]
    write_hosts(
        launched("broken", crash)
        + f'[endpoints.good]\nbase_url = "{llama_url}"\nmodel = "smollm2"\n'
    )
    case_file(pytester.path, "capital", "summary", contains=" ", prompt="Name a city.")
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(passed=2, failed=2)
    document = load_report(pytester.path / "mmbench-report.json")
    records = records_by_case(document)
    for case in ("capital", "summary"):
        error = records[("broken", case)]["error"]
        assert "exited with status 3 before" in error and "unknown flag --bogus" in error
        assert records[("good", case)]["status"] == "passed"
    broken = next(e for e in document["endpoints"] if e["id"] == "broken")
    (run,) = broken["runtime"]["server_runs"]  # started once, not once per case
    assert run["stopped_by"] == "exited" and run["exit_code"] == 3 and run["cold_start_s"] is None
    result.stdout.fnmatch_lines(["*broken not eligible: nothing measured in this run*"])


def test_a_server_never_ready_is_stopped_with_what_it_spawned(pytester, write_hosts) -> None:
    pid_file = pytester.path / "grandchild.pid"
    hang = [
        sys.executable,
        "-c",
        "import subprocess, sys, time; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
        f"open({str(pid_file)!r}, 'w').write(str(child.pid)); "
        "print('loading weights...', flush=True); time.sleep(300)",
    ]
    write_hosts(launched("slow", hang, ", startup_timeout_s = 2, stop_timeout_s = 2"))
    case_file(pytester.path, "capital", prompt="What is the capital of France?")
    started = time.monotonic()
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml")
    result.assert_outcomes(failed=1)
    assert time.monotonic() - started < 30
    (record,) = load_report(pytester.path / "mmbench-report.json")["records"]
    assert "/health was not ready after 2 s" in record["error"]
    assert "raise launch.startup_timeout_s" in record["error"]
    assert "loading weights..." in record["error"]  # the log's last lines say why
    document = load_report(pytester.path / "mmbench-report.json")
    (run,) = document["endpoints"][0]["runtime"]["server_runs"]
    assert run["stopped_by"] == "SIGTERM" and not alive(run["pid"])
    assert not alive(int(pid_file.read_text()))  # the whole process group went


def test_ctrl_c_while_a_managed_server_runs_leaves_no_process(tmp_path: Path) -> None:
    marker = f"sigint-{uuid.uuid4().hex[:8]}"
    (tmp_path / "hosts.toml").write_text(launched("managed", [*SERVE, "--name", marker]))
    case_file(tmp_path, "capital", prompt="What is the capital of France?")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "mm_one.toml", "--mm-endpoints=hosts.toml"]
    command += ["-v", "--mm-rounds=200", "-p", "no:cacheprovider", "-p", "no:benchmark"]
    process = subprocess.Popen(
        [*command, "-p", "no:xdist", "-p", "no:randomly"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, like a terminal's foreground job
    )
    deadline = time.monotonic() + 60
    while not with_marker(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert with_marker(marker), "the managed server never started"
    time.sleep(3.0)  # rounds under way
    os.killpg(process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    output = process.communicate(timeout=60)[0].decode("utf-8", "replace")
    assert process.returncode == 2, output  # pytest's "interrupted"
    assert with_marker(marker) == [], output
    document = load_report(tmp_path / "mmbench-report.json")
    (run,) = document["endpoints"][0]["runtime"]["server_runs"]
    assert run["stopped_by"] == "SIGTERM" and run["exit_code"] == 0


@pytest.mark.parametrize("dist", [["-n", "2"], ["-n", "2", "--dist", "load"]])
def test_gpu_group_under_xdist_needs_loadgroup(pytester, write_hosts, dist) -> None:
    pytest.importorskip("xdist")
    write_hosts(launched("a", SERVE) + 'gpu_group = "g"\n')
    case_file(pytester.path, "capital")
    result = pytester.runpytest_inprocess("mm_one.toml", "--mm-endpoints=hosts.toml", *dist)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*gpu_group (g) need --dist loadgroup under xdist*"])
