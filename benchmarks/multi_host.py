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
    args = parser.parse_args()
    reason = netns.available()
    if reason:
        sys.exit(f"cannot simulate hosts here: {reason}")
    bodies = [body(i, args.tokens) for i in range(args.requests)]
    points = {
        "closed c8": LoadPoint(concurrency=8, requests=args.requests),
        "open 40 req/s": LoadPoint(concurrency=None, rate=40.0, requests=args.requests),
    }
    with netns.client_hosts(2) as (server_ip, hosts):
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
        warm = body(-1, 1)
        target = Target(url + "/chat/completions", {"Content-Type": "application/json"}, 60, warm)
        clients = ClientHosts([ClientSpec(h.spec) for h in hosts])
        try:
            print(
                f"synthetic server at {url}: {args.prefill_ms:g} ms to the first of "
                f"{args.tokens} chunks, {args.delay_ms:g} ms apart; "
                f"{args.requests} requests per point; median of {args.repeats} repeats\n"
            )
            for name, point in points.items():
                single: list[dict[str, Any]] = []
                split: list[dict[str, Any]] = []
                for _ in range(args.repeats):
                    single.append(point_row(run_point(target, point, bodies), {}))
                    split.append(point_row(clients.run(target, point, bodies), {}))
                report(name, single, split)
        finally:
            clients.close()
            server.terminate()


def report(name: str, single: list[dict[str, Any]], split: list[dict[str, Any]]) -> None:
    print(f"== {name}")
    print(f"  {'figure':<14} {'1 process':>10} {'2 hosts':>10} {'diff':>8}")
    for label, pick in FIGURES:
        a = statistics.median(pick(r) for r in single)
        b = statistics.median(pick(r) for r in split)
        print(f"  {label:<14} {a:>10.2f} {b:>10.2f} {100 * (b - a) / a:>+7.2f}%")
    lost = [r["requests"] - r["completed"] for r in split]
    print(
        f"  requests lost or failed, per repeat (2 hosts): {lost}; single: "
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
