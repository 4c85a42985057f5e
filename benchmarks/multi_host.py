"""Two client hosts against one process: does splitting a point change what it measures?

    sudo python benchmarks/multi_host.py [--requests 400] [--repeats 3]

Two hosts are Linux network namespaces (tests/netns.py: own address, own host name,
an execnet socketserver each); the synthetic streaming server listens on a bridge
address.  Each point (closed loop at concurrency 8, open loop at 40 req/s) runs as
one client process here and as 2 hosts x 1 client through ``--mm-clients``'s engine,
taking turns so machine noise falls on both alike.  Printed per point: merged output
throughput and TTFT / end-to-end percentiles (median over the repeats) for both, their
difference, lost requests, and the clock offsets and round trips measured per host.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import netns
from pytest_mmbench.results.load_row import point_row
from pytest_mmbench.run.load.engine import Target, run_point
from pytest_mmbench.run.load.hosts import ClientHosts
from pytest_mmbench.spec.client_hosts import ClientSpec
from pytest_mmbench.spec.load_plan import LoadPoint

FIGURES = (
    ("output tok/s", lambda r: r["output_tok_s"]),
    ("TTFT p50 ms", lambda r: r["ttft_ms"]["p50"]),
    ("TTFT p99 ms", lambda r: r["ttft_ms"]["p99"]),
    ("e2e p50 ms", lambda r: r["e2e_ms"]["p50"]),
    ("e2e p99 ms", lambda r: r["e2e_ms"]["p99"]),
)


def body(i: int, tokens: int) -> bytes:
    return json.dumps(
        {
            "model": "synthetic",
            "messages": [{"role": "user", "content": f"request {i}: hello there"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": tokens,
        }
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--prefill-ms", type=float, default=50.0)
    parser.add_argument("--hosts", type=int, default=2, help="client hosts (namespaces)")
    parser.add_argument("--only", choices=["closed", "open"], default=None)
    parser.add_argument(
        "--pin",
        default="0:1",
        help="SERVER_CPUS:CLIENT_CPUS, e.g. 0:1 ('' to leave scheduling alone). On one "
        "small machine the clients would otherwise take CPU from the server, which real "
        "client hosts do not",
    )
    args = parser.parse_args()
    reason = netns.available()
    if reason:
        sys.exit(f"cannot simulate hosts here: {reason}")
    bodies = [body(i, args.tokens) for i in range(args.requests)]
    points = {
        "closed c8": LoadPoint(concurrency=8, requests=args.requests),
        "open 40 req/s": LoadPoint(concurrency=None, rate=40.0, requests=args.requests),
    }
    if args.only:
        points = {k: v for k, v in points.items() if k.startswith(args.only)}
    with netns.client_hosts(args.hosts) as (server_ip, hosts):
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "pytest_mmbench.servers.synthetic"),
                *("--host", server_ip, "--delay-ms", str(args.delay_ms)),
                *("--tokens", str(args.tokens), "--prefill-ms", str(args.prefill_ms)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        here_single = here_split = set(range(os.cpu_count() or 1))
        if args.pin:
            server_cpus, client_cpus = (_cpus(part) for part in args.pin.split(":"))
            os.sched_setaffinity(server.pid, server_cpus)
            for host in hosts:
                for pid in host.pids():
                    os.sched_setaffinity(pid, client_cpus)
            # this process is the client of the single-process runs; in the split runs it
            # only gathers records, which on real hosts happens on another machine, so it
            # keeps off the clients' CPUs then
            here_single, here_split = client_cpus, server_cpus
        warm = body(-1, 1)
        target = Target(url + "/chat/completions", {"Content-Type": "application/json"}, 60, warm)
        clients = ClientHosts([ClientSpec(h.spec) for h in hosts])
        try:
            print(
                f"synthetic server at {url}: {args.prefill_ms:g} ms to the first of "
                f"{args.tokens} chunks, {args.delay_ms:g} ms apart; "
                f"{args.requests} requests per point; median of {args.repeats} repeats; "
                f"pinned (server:clients) {args.pin or 'no'}\n"
            )
            for name, point in points.items():
                single: list[dict[str, Any]] = []
                split: list[dict[str, Any]] = []
                for _ in range(args.repeats):
                    _pin_self(here_single)
                    single.append(point_row(run_point(target, point, bodies), {}))
                    _pin_self(here_split)
                    split.append(point_row(clients.run(target, point, bodies), {}))
                report(name, single, split)
        finally:
            clients.close()
            server.terminate()


def _cpus(text: str) -> set[int]:
    return {int(c) for c in text.split(",") if c.strip()}


def _pin_self(cpus: set[int]) -> None:
    """Every thread of this process (execnet's I/O threads too) onto ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), cpus)


def report(name: str, single: list[dict[str, Any]], split: list[dict[str, Any]]) -> None:
    print(f"== {name}")
    hosts = f"{len(split[0]['hosts'])} hosts"
    print(f"  {'figure':<14} {'1 process':>10} {hosts:>10} {'diff':>8}   1-process repeats (noise)")
    for label, pick in FIGURES:
        mine = [pick(r) for r in single]
        a = statistics.median(mine)
        b = statistics.median(pick(r) for r in split)
        noise = 100 * (max(mine) - min(mine)) / a
        print(
            f"  {label:<14} {a:>10.2f} {b:>10.2f} {100 * (b - a) / a:>+7.2f}%   "
            f"{min(mine):.2f}..{max(mine):.2f} ({noise:.1f}%)"
        )
    lost = [r["requests"] - r["completed"] for r in split]
    print(
        f"  requests lost or failed, per repeat, {hosts}: {lost}; single: "
        f"{[r['requests'] - r['completed'] for r in single]}"
    )
    for row in split:
        hosts = ", ".join(
            f"{h['host']} offset {h['clock_offset_ms']:+.3f} ms (rtt {h['clock_rtt_ms']:.3f} ms, "
            f"client CPU {h['client_cpu_s']:.2f} s)"
            for h in row["hosts"]
        )
        print(f"  clocks: {hosts}")
    print()


if __name__ == "__main__":
    main()
