"""Load points from client processes on several hosts, over execnet gateways.

The hosts are Linux network namespaces (tests/netns.py), each with its own address,
host name and execnet socketserver; the server listens on one address of a bridge.
Splitting, spec parsing and the clock arithmetic are also tested without namespaces.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import netns
from pytest_mmbench.report.terminal import load_notes
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.results.load_row import point_row
from pytest_mmbench.run.load import gather
from pytest_mmbench.run.load import hosts as hosts_module
from pytest_mmbench.run.load.arrivals import arrival_offsets
from pytest_mmbench.run.load.engine import Target
from pytest_mmbench.run.load.hosts import ClientHostError, ClientHosts
from pytest_mmbench.run.load.shares import split
from pytest_mmbench.spec.client_hosts import ClientSpec, parse_client_specs
from pytest_mmbench.spec.load_plan import LoadPoint
from support import interrupt_pytest, load_case_file, load_report

NO_NETNS = netns.available()
needs_netns = pytest.mark.skipif(NO_NETNS is not None, reason=str(NO_NETNS))


# --- splitting a point -----------------------------------------------------------------------


def test_closed_loop_splits_concurrency_and_requests_in_proportion() -> None:
    bodies = [b"%d" % i for i in range(16)]
    shares = split(LoadPoint(concurrency=5, requests=16), bodies, 2)
    assert [s.slots for s in shares] == [3, 2]  # 5 over 2 is 3 + 2, not 2 + 2
    assert [len(s.indexes) for s in shares] == [10, 6]  # 16 x 3/5 and 16 x 2/5
    assert [i for s in shares for i in s.indexes] == list(range(16))
    assert [b for s in shares for b in s.bodies] == bodies
    # fewer slots than clients: only as many clients as slots
    assert len(split(LoadPoint(concurrency=2, requests=16), bodies, 4)) == 2


def test_open_loop_deals_out_one_schedule() -> None:
    point = LoadPoint(concurrency=None, rate=20.0, requests=30, seed=9, max_concurrency=5)
    bodies = [b"%d" % i for i in range(30)]
    shares = split(point, bodies, 3)
    single = arrival_offsets(20.0, 30, 1.0, 9)
    merged = sorted(
        (i, due) for s in shares for i, due in zip(s.indexes, s.due_s or (), strict=True)
    )
    assert merged == list(enumerate(single))  # exactly the single-client schedule
    assert [s.indexes[:2] for s in shares] == [(0, 3), (1, 4), (2, 5)]
    assert [s.slots for s in shares] == [2, 2, 1]  # the cap on requests in flight, split


# --- naming the hosts ------------------------------------------------------------------------


def test_client_specs_parse_with_counts() -> None:
    specs = parse_client_specs("2*socket=10.0.0.2:8888; ssh=me@box//python=/opt/venv/bin/python")
    assert specs == [
        ClientSpec("socket=10.0.0.2:8888", 2),
        ClientSpec("ssh=me@box//python=/opt/venv/bin/python", 1),
    ]
    assert all(spec.remote for spec in specs) and not ClientSpec("popen").remote


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x*socket=10.0.0.2:8888", r"count before '\*' must be a whole number"),
        ("0*popen", r"count before '\*' must be a whole number"),
        ("box2", "not an execnet gateway spec"),
        (" ; ", "no client host given"),
    ],
)
def test_bad_client_specs_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_client_specs(text)


def test_bad_clients_option_is_a_usage_error(pytester, write_hosts, fault_server) -> None:
    write_hosts(f'[endpoints.e]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--mm-clients=box2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--mm-clients: 'box2': not an execnet gateway spec*"])


def test_loopback_url_is_refused_for_remote_clients() -> None:
    hosts = ClientHosts([ClientSpec("socket=10.0.0.2:8888")])
    with pytest.raises(ClientHostError, match="on loopback, which clients on other hosts"):
        hosts.check_reachable("http://127.0.0.1:8080/v1/chat/completions")
    ClientHosts([ClientSpec("popen", 2)]).check_reachable("http://127.0.0.1:8080/v1")


# --- clocks ----------------------------------------------------------------------------------


def test_times_from_a_host_with_a_skewed_clock_land_on_ours() -> None:
    """A host whose wall clock is 5 s ahead: its requests and span are moved back 5 s."""
    ahead = hosts_module._Client(
        ClientSpec("socket=10.0.0.2:8888"), None, None, queue.Queue(), {"host": "b"}, 5.0, 0.001
    )
    here = hosts_module._Client(
        ClientSpec("socket=10.0.0.3:8888"), None, None, queue.Queue(), {"host": "a"}, 0.0, 0.001
    )
    traces = [Trace(index=0, wall_start=1000.2), Trace(index=1, wall_start=1005.2)]
    traces[1].wall_start -= 5.0  # as collect does on arrival
    done = [
        {"client_cpu_s": 0.1, "start_wall": 1000.0, "end_wall": 1001.0, "interrupted": False},
        {"client_cpu_s": 0.1, "start_wall": 1005.0, "end_wall": 1006.0, "interrupted": False},
    ]
    run = gather.merge([here, ahead], [1, 1], [[traces[0]], [traces[1]]], done, False)
    assert (run.start_ns, run.end_ns) == (1000 * 10**9, 1001 * 10**9)  # not a 6 s point
    assert [h.clock_offset_ms for h in run.hosts] == [0.0, 5000.0]


# --- through the plugin, on real namespaces --------------------------------------------------


@pytest.fixture(scope="module")
def namespaces() -> Iterator[tuple[str, list[netns.ClientHost]]]:
    if NO_NETNS is not None:
        pytest.skip(NO_NETNS)
    with netns.client_hosts(2) as found:
        yield found


def synthetic_server(address: str, delay_ms: float) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_mmbench.servers.synthetic",
            "--host",
            address,
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, server.stdout.readline().strip()


@needs_netns
def test_a_point_from_two_hosts_is_one_row(pytester, write_hosts, namespaces) -> None:
    server_ip, hosts = namespaces
    server, url = synthetic_server(server_ip, delay_ms=1)
    try:
        write_hosts(f'[endpoints.synth]\nbase_url = "{url}"\nmodel = "synthetic"\n')
        sizes = "requests = 40, input_tokens = 32, output_tokens = 16"
        load_case_file(pytester.path, f"concurrency = [4], {sizes}")
        load_case_file(pytester.path, f"rate = [40.0], {sizes}", case_id="poisson")
        result = pytester.runpytest_inprocess(
            "mm_load.toml",
            "--mm-endpoints=hosts.toml",
            f"--mm-clients={hosts[0].spec};{hosts[1].spec}",
        )
    finally:
        server.terminate()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            f"*chat/c4: clients client-1 [[]{hosts[0].spec}] x1: 20/20 back, CPU *, clock *"
            f"client-2 [[]{hosts[1].spec}] x1: 20/20 back*"
        ]
    )
    closed, opened = load_report(pytester.path / "mmbench-report.json")["load"]["synth"]
    for row in (closed, opened):
        assert (row["requests"], row["completed"], row["errors"]) == (40, 40, 0)
        assert row["partial"] is False and row["lost_with_client"] == 0
        assert row["processes"] == 2
        assert [h["host"] for h in row["hosts"]] == ["client-1", "client-2"]
        assert [h["spec"] for h in row["hosts"]] == [h.spec for h in hosts]
        assert [h["requests"] for h in row["hosts"]] == [20, 20]
        for host in row["hosts"]:
            assert host["status"] == "ok" and host["reported"] == 20
            assert host["client_cpu_s"] > 0 and host["client_bound"] is False
            assert abs(host["clock_offset_ms"]) < 5 and 0 < host["clock_rtt_ms"] < 100
        assert [e["index"] for e in row["request_log"]] == list(range(40))
        assert row["output_tokens"]["min"] == row["output_tokens"]["max"] == 16
    # the open loop ran the one schedule: request k was due at the k-th arrival
    starts = [e["wall_start"] for e in opened["request_log"]]
    due = arrival_offsets(40.0, 40, 1.0, 1234)
    drift = [(s - starts[0]) - (d - due[0]) for s, d in zip(starts, due, strict=True)]
    assert max(abs(x) for x in drift) < 0.05


@needs_netns
def test_a_host_that_dies_mid_point_leaves_a_partial_point(namespaces) -> None:
    server_ip, hosts = namespaces
    server, url = synthetic_server(server_ip, delay_ms=20)  # 16 tokens: ~0.35 s a request
    clients = ClientHosts([ClientSpec(h.spec) for h in hosts])
    body = json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        | {"max_tokens": 16, "stream_options": {"include_usage": True}}
    ).encode()
    target = Target(url + "/chat/completions", {"Content-Type": "application/json"}, 30.0)
    point = LoadPoint(concurrency=4, requests=32)
    # each host: 2 slots, 16 requests, ~8 waves of 0.35 s; the second dies after ~3
    killer = threading.Timer(1.2, hosts[1].kill)
    try:
        started = time.monotonic()
        killer.start()
        row = point_row(clients.run(target, point, [body] * 32), {})
    finally:
        killer.cancel()
        clients.close()
        server.terminate()
        hosts[1].kill()
        hosts[1].start()  # the host comes back for the tests after this one
    assert time.monotonic() - started < 20
    alive, dead = row["hosts"]
    assert (alive["status"], alive["reported"]) == ("ok", 16)
    assert dead["status"] == "died" and "ended" in dead["error"]
    assert 2 <= dead["reported"] < 16  # what it completed before dying is kept
    assert row["partial"] is True
    assert row["lost_with_client"] == 16 - dead["reported"]
    assert row["requests"] == 32 and row["completed"] == 16 + dead["reported"]
    notes = load_notes([{"case_id": "chat", "point": "c4", **row}])
    assert f"chat/c4: PARTIAL: a client host died; {row['lost_with_client']} requests" in notes[0]
    assert f"{dead['reported']}/16 back" in notes[1] and " DIED" in notes[1]


# --- through the plugin, with local gateways (no root needed) --------------------------------


def test_clients_on_this_host_through_gateways(pytester, write_hosts, fault_server) -> None:
    """``2*popen``: two client processes behind one gateway (the second via the first)."""
    write_hosts(f'[endpoints.e]\nbase_url = "{fault_server.url}"\nmodel = "fault:ok"\n')
    load_case_file(
        pytester.path, "concurrency = [3], requests = 9, input_tokens = 40, output_tokens = 4"
    )
    result = pytester.runpytest_inprocess(
        "mm_load.toml", "--mm-endpoints=hosts.toml", "--mm-clients=2*popen"
    )
    result.assert_outcomes(passed=1)
    (row,) = load_report(pytester.path / "mmbench-report.json")["load"]["e"]
    assert (row["completed"], row["errors"], row["processes"]) == (9, 0, 2)
    (host,) = row["hosts"]
    assert (host["spec"], host["processes"], host["requests"], host["reported"]) == (
        "popen",
        2,
        9,
        9,
    )
    assert host["clock_rtt_ms"] is not None and abs(host["clock_offset_ms"]) < 5


def test_a_client_with_another_version_is_refused(monkeypatch) -> None:
    import pytest_mmbench

    monkeypatch.setattr(pytest_mmbench, "__version__", "0.0.0-here", raising=False)
    hosts = ClientHosts([ClientSpec("popen")])
    with pytest.raises(ClientHostError, match=r"pytest-mmbench \S+ is installed there and "):
        hosts.open()
    hosts.close()


@needs_netns
def test_ctrl_c_during_a_point_from_two_hosts_keeps_what_ended(tmp_path, namespaces) -> None:
    """SIGINT to the run's process group, as a terminal sends it, mid-point."""
    server_ip, hosts = namespaces
    server, url = synthetic_server(server_ip, delay_ms=20)
    (tmp_path / "hosts.toml").write_text(f'[endpoints.s]\nbase_url = "{url}"\nmodel = "m"\n')
    load_case_file(
        tmp_path, "concurrency = [4], requests = 80, input_tokens = 16, output_tokens = 16"
    )
    try:
        row, text = interrupted_run(tmp_path, f"--mm-clients={hosts[0].spec};{hosts[1].spec}")
    finally:
        server.terminate()
    assert row["interrupted"] is True and row["partial"] is False, text
    assert 4 <= row["completed"] < 80 and row["errors"] == 0
    assert row["requests"] == row["completed"] + row["in_flight_at_interrupt"]
    assert {h["status"] for h in row["hosts"]} == {"interrupted"}


def chat_body(tokens: int = 16) -> bytes:
    return json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        | {"max_tokens": tokens, "stream_options": {"include_usage": True}}
    ).encode()


def test_a_client_that_breaks_is_one_clear_error_without_the_key(fault_server) -> None:
    """A header the HTTP library refuses breaks the client in its warm-up: the point gets
    the reason at once instead of waiting for a client that will never report."""
    clients = ClientHosts([ClientSpec("popen")])
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-sec\nret"}
    target = Target(fault_server.url + "/chat/completions", headers, 10.0, warmup=chat_body())
    started = time.monotonic()
    try:
        with pytest.raises(ClientHostError, match="the client broke: ValueError") as info:
            clients.run(target, LoadPoint(concurrency=1, requests=2), [chat_body()] * 2)
    finally:
        clients.close()
    assert time.monotonic() - started < 10
    assert "sk-sec" not in str(info.value)


def test_a_client_lost_between_points_is_replaced(fault_server) -> None:
    clients = ClientHosts([ClientSpec("popen")])
    target = Target(fault_server.url + "/chat/completions", {}, 10.0)
    point = LoadPoint(concurrency=2, requests=4)
    try:
        first = point_row(clients.run(target, point, [chat_body()] * 4), {})
        (client,) = clients.open()
        os.kill(client.hello["pid"], signal.SIGKILL)  # the host goes away between points
        time.sleep(0.5)
        second = point_row(clients.run(target, point, [chat_body()] * 4), {})
    finally:
        clients.close()
    assert first["completed"] == second["completed"] == 4
    assert second["hosts"][0]["status"] == "ok"


def test_ctrl_c_with_local_gateway_clients_stops_them_not_kills_them(tmp_path) -> None:
    """popen (and ssh) clients are children in our process group: the terminal's SIGINT
    reaches them too, so they are started with it ignored and get "stop" from us."""
    server, url = synthetic_server("127.0.0.1", delay_ms=20)
    (tmp_path / "hosts.toml").write_text(f'[endpoints.s]\nbase_url = "{url}"\nmodel = "m"\n')
    load_case_file(
        tmp_path, "concurrency = [4], requests = 80, input_tokens = 16, output_tokens = 16"
    )
    try:
        row, text = interrupted_run(tmp_path, "--mm-clients=popen;popen")
    finally:
        server.terminate()
    assert row["interrupted"] is True and row["partial"] is False, text
    assert row["lost_with_client"] == 0 and 4 <= row["completed"] < 80
    assert row["requests"] == row["completed"] + row["in_flight_at_interrupt"]
    assert {h["status"] for h in row["hosts"]} == {"interrupted"}


def interrupted_run(folder, clients: str) -> tuple[dict[str, object], str]:
    """SIGINT 3 s into the point: ~0.35 s a request, 4 at a time, so about 30 of 80 ended."""
    returncode, text = interrupt_pytest(
        folder, ["mm_load.toml", "--mm-endpoints=hosts.toml", clients], after_s=3.0
    )
    assert returncode == 2, text
    (row,) = load_report(folder / "mmbench-report.json")["load"]["s"]
    return row, text


@needs_netns
def test_a_host_cut_off_the_network_is_declared_dead(namespaces, monkeypatch) -> None:
    """A host that vanishes without closing its connection (its link goes down) is
    noticed by its silence: no record and no heartbeat for SILENCE_S."""
    monkeypatch.setattr(gather, "SILENCE_S", 3.0)
    server_ip, hosts = namespaces
    server, url = synthetic_server(server_ip, delay_ms=20)
    clients = ClientHosts([ClientSpec(h.spec) for h in hosts])
    target = Target(url + "/chat/completions", {"Content-Type": "application/json"}, 30.0)
    link = ["ip", "-n", hosts[1].namespace, "link", "set", hosts[1].link]
    cut = threading.Timer(1.2, lambda: subprocess.run([*link, "down"], check=True))
    try:
        started = time.monotonic()
        cut.start()
        row = point_row(
            clients.run(target, LoadPoint(concurrency=4, requests=32), [chat_body()] * 32), {}
        )
        took = time.monotonic() - started
    finally:
        cut.cancel()
        subprocess.run([*link, "up"], check=True)
        clients.close()
        server.terminate()
        hosts[1].kill()
        hosts[1].start()
    assert took < 15
    alive, dead = row["hosts"]
    assert alive["status"] == "ok" and alive["reported"] == 16
    assert dead["status"] == "died" and "no word from it for 3 s" in dead["error"]
    assert row["partial"] is True and row["lost_with_client"] == 16 - dead["reported"]
