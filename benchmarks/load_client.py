"""The load client's accuracy, overhead and scale (issue: load), measured, not assumed.

    python benchmarks/load_client.py all [--guidellm PATH --tokenizer DIR] [--requests 50]

Server and client are pinned to different cores (taskset), the server with one compute
thread, as ../shared/PEERS.md found fair on a 2-core machine:

* accuracy: concurrency 1 against the embedded llama.cpp server; per request, our
  decode tok/s vs the server's ``timings.predicted_per_second`` and our TTFT vs its
  ``prompt_ms``; and our own queueing delay at concurrency 8.
* overhead: client CPU seconds (getrusage of the client process) for the same workload
  (N requests, 128 in / 64 out, concurrency 1 and 8) from our client, a minimal httpx
  reference client, and GuideLLM if ``--guidellm`` is given.
* scale: concurrency 256 against a fast synthetic streaming server (errors must be 0),
  and the most chunks per second one client process parses.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
SERVER_CORE, CLIENT_CORE = "0", "1"


# --- servers (run as pinned subprocesses) ----------------------------------------------------


def serve_llama(parallel: int) -> None:
    from pytest_mmbench.servers.embedded import EmbeddedServer
    from pytest_mmbench.spec.endpoints import EmbeddedSettings

    server = EmbeddedServer(EmbeddedSettings(threads=1, parallel=parallel, ctx_size=1024))
    print(server.start(), flush=True)
    while True:
        time.sleep(3600)


def serve_synthetic(tokens: int, delay_ms: float) -> None:
    """The package's synthetic streaming server (``max_tokens`` chunks per request)."""
    from pytest_mmbench.servers import synthetic

    synthetic.main(["--tokens", str(tokens), "--delay-ms", str(delay_ms)])


def start(kind: str, *args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CORE, sys.executable, str(HERE), kind, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


# --- clients (each run as a pinned subprocess so its CPU is its own) --------------------------


def client_ours(url: str, prompts_file: str, concurrency: int, output_tokens: int) -> None:
    from pytest_mmbench.request.body import build_body, encode, warmup_body
    from pytest_mmbench.results.load_row import point_row
    from pytest_mmbench.results.metrics import compute
    from pytest_mmbench.run.load.engine import Target, run_point
    from pytest_mmbench.spec.endpoints import Endpoint
    from pytest_mmbench.spec.load_plan import LoadPoint

    messages = json.loads(Path(prompts_file).read_text())
    point = LoadPoint(concurrency=concurrency, requests=len(messages), output_tokens=output_tokens)
    endpoint = Endpoint(id="bench", model="smollm2", base_url=url)
    bodies = [
        encode(build_body(endpoint, m, max_tokens=output_tokens, exact_length=True))
        for m in messages
    ]
    target = Target(
        url + "/chat/completions",
        {"Content-Type": "application/json"},
        600.0,
        warmup=warmup_body(endpoint),
    )
    run = run_point(target, point, bodies)
    row = point_row(run, {})
    pairs = []
    for r in run.records:
        figures, timings = compute(r), r.timings or {}
        if figures.decode_tok_s and timings.get("predicted_per_second") and r.token_ns:
            pairs.append(
                {
                    "decode": figures.decode_tok_s,
                    "server_decode": timings["predicted_per_second"],
                    "ttft": (r.token_ns[0] - r.sent_ns) / 1e6,
                    "server_prompt_ms": timings["prompt_ms"],
                }
            )
    print(
        json.dumps(
            {
                "row": {
                    k: row[k]
                    for k in (
                        "completed",
                        "errors",
                        "queue_ms",
                        "output_tokens",
                        "output_tok_s",
                        "wall_s",
                        "client_cpu_s",
                    )
                },
                "pairs": pairs,
                "cpu_s": _cpu(),
            }
        )
    )


def client_reference(url: str, prompts_file: str, concurrency: int, output_tokens: int) -> None:
    """What PEERS.md calls a minimal httpx asyncio client: stream, json.loads every line."""
    import httpx

    messages = json.loads(Path(prompts_file).read_text())

    async def main() -> int:
        queue = list(messages)
        errors = 0
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(timeout=600, limits=limits) as client:

            async def worker() -> None:
                nonlocal errors
                while queue:
                    body = {
                        "model": "smollm2",
                        "messages": queue.pop(),
                        "stream": True,
                        "max_tokens": output_tokens,
                        "ignore_eos": True,
                        "stream_options": {"include_usage": True},
                    }
                    try:
                        async with client.stream(
                            "POST", url + "/chat/completions", json=body
                        ) as response:
                            async for line in response.aiter_lines():
                                if line.startswith("data: ") and line != "data: [DONE]":
                                    json.loads(line[6:])
                    except httpx.HTTPError:
                        errors += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return errors

    errors = asyncio.run(main())
    print(json.dumps({"errors": errors, "cpu_s": _cpu()}))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_client(kind: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        ["taskset", "-c", CLIENT_CORE, sys.executable, str(HERE), kind, *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_guidellm(
    guidellm: str,
    tokenizer: str,
    url: str,
    concurrency: int,
    requests: int,
    input_tokens: int,
    output_tokens: int,
) -> dict[str, Any]:
    out = Path(tempfile.mkdtemp()) / "guidellm.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [
            "taskset",
            "-c",
            CLIENT_CORE,
            guidellm,
            "run",
            "--backend",
            f"kind=openai_http,target={url[:-3]},model=smollm2,request_format=/v1/chat/completions",
            "--profile",
            f"kind=concurrent,streams={concurrency}",
            "--data",
            f"kind=synthetic_text,prompt_tokens={input_tokens},output_tokens={output_tokens}",
            "--tokenizer",
            f"kind=hf_auto,model={tokenizer}",
            "--constraint",
            f"kind=max_requests,count={requests}",
            "--output",
            f"kind=json,path={out}",
            "--disable-console",
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cpu_s": cpu, "report": str(out)}


# --- the measurements -------------------------------------------------------------------------


def prompts_file(url: str, requests: int, input_tokens: int) -> str:
    import httpx

    from pytest_mmbench.run.load.prompts import build_prompts

    run = os.urandom(3).hex()
    with httpx.Client(timeout=60) as http:
        prompts = build_prompts(
            http, url, "smollm2", {}, input_tokens, requests, 7, False, lambda i: f"{run}-{i}"
        )
    path = Path(tempfile.mkdtemp()) / "prompts.json"
    path.write_text(json.dumps(prompts.bodies))
    return str(path)


def accuracy_and_overhead(args: argparse.Namespace) -> None:
    server, url = start("serve-llama", "--parallel", "8")
    try:
        for concurrency in (1, 8):
            prompts = prompts_file(url, args.requests, 128)
            ours = run_client("client-ours", url, prompts, str(concurrency), "64")
            row = ours["row"]
            print(
                f"\n== concurrency {concurrency}: {row['completed']} requests, "
                f"{row['errors']} errors, 128 in / {row['output_tokens']['mean']:.0f} out"
            )
            pairs = ours["pairs"]
            if concurrency == 1 and pairs:
                errs = [
                    100 * (p["decode"] - p["server_decode"]) / p["server_decode"] for p in pairs
                ]
                gaps = sorted(p["ttft"] - p["server_prompt_ms"] for p in pairs)
                print(
                    f"accuracy: decode tok/s vs server timings: mean {statistics.fmean(errs):+.3f}%"
                    f", worst {max(errs, key=abs):+.3f}% (target 3%); TTFT - prompt_ms: mean "
                    f"{statistics.fmean(gaps):.2f} ms, p50 {statistics.median(gaps):.2f} ms, "
                    f"max {gaps[-1]:.2f} ms (target 5 ms)"
                )
            print(
                f"our queueing delay: p50 {row['queue_ms']['p50']:.3f} ms, p99 "
                f"{row['queue_ms']['p99']:.3f} ms (target < 1 ms at c8)"
            )
            reference = run_client("client-reference", url, prompts, str(concurrency), "64")
            n = args.requests
            print(
                f"client CPU for {n} requests: ours {ours['cpu_s']:.2f} s "
                f"({1000 * ours['cpu_s'] / n:.1f} ms/request, "
                f"{1e6 * ours['cpu_s'] / (n * 64):.0f} us/token); minimal httpx reference "
                f"{reference['cpu_s']:.2f} s ({reference['errors']} errors) -> ours/reference "
                f"= {ours['cpu_s'] / reference['cpu_s']:.2f}x (target <= 1.5x)"
            )
            if args.guidellm:
                peer = run_guidellm(args.guidellm, args.tokenizer, url, concurrency, n, 128, 64)
                print(
                    f"GuideLLM CPU for {n} requests: {peer['cpu_s']:.2f} s -> ours/GuideLLM = "
                    f"{ours['cpu_s'] / peer['cpu_s']:.2f}x (report: {peer['report']})"
                )
    finally:
        server.terminate()


def scale(args: argparse.Namespace) -> None:
    server, url = start("serve-synthetic", "--tokens", "64", "--delay-ms", "2")
    try:
        messages = [[{"role": "user", "content": f"hello {i}"}] for i in range(1024)]
        path = Path(tempfile.mkdtemp()) / "prompts.json"
        path.write_text(json.dumps(messages))
        result = run_client("client-ours", url, str(path), "256", "64")
        row = result["row"]
        print(
            f"\n== scale: concurrency 256, {len(messages)} requests x 64 chunks against a "
            f"synthetic server (2 ms per chunk): {row['completed']} completed, "
            f"{row['errors']} errors, queue p99 {row['queue_ms']['p99']:.2f} ms, "
            f"client CPU {result['cpu_s']:.2f} s over {row['wall_s']:.1f} s"
        )
        chunks = row["completed"] * 64
        print(
            f"c256 parse rate: {chunks} chunks, {row['client_cpu_s']:.2f} s CPU of the client's "
            f"loop from the point's start -> {chunks / row['client_cpu_s']:,.0f} chunks per "
            f"CPU-second ({chunks / result['cpu_s']:,.0f} counting the whole process, "
            "imports and warm-up included)"
        )
    finally:
        server.terminate()
    server, url = start("serve-synthetic", "--tokens", "256", "--delay-ms", "0")
    try:
        messages = [[{"role": "user", "content": f"hello {i}"}] for i in range(512)]
        path.write_text(json.dumps(messages))
        result = run_client("client-ours", url, str(path), "32", "256")
        row = result["row"]
        chunks = row["completed"] * 256
        print(
            f"c32 parse rate: {chunks} chunks in {row['wall_s']:.2f} s wall, "
            f"{result['cpu_s']:.2f} s client CPU -> {chunks / result['cpu_s']:,.0f} chunks per "
            f"CPU-second, {chunks / row['wall_s']:,.0f} chunks/s wall (server on the other core)"
        )
    finally:
        server.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("all", "accuracy", "scale"):
        p = sub.add_parser(name)
        p.add_argument("--requests", type=int, default=50)
        p.add_argument("--guidellm", default=None, help="path to a guidellm executable")
        p.add_argument("--tokenizer", default=None, help="HF tokenizer dir for GuideLLM")
    p = sub.add_parser("serve-llama")
    p.add_argument("--parallel", type=int, default=8)
    p = sub.add_parser("serve-synthetic")
    p.add_argument("--tokens", type=int, default=64)
    p.add_argument("--delay-ms", type=float, default=0)
    for name in ("client-ours", "client-reference"):
        p = sub.add_parser(name)
        p.add_argument("url")
        p.add_argument("prompts")
        p.add_argument("concurrency", type=int)
        p.add_argument("output_tokens", type=int)
    args = parser.parse_args()
    if args.command == "serve-llama":
        serve_llama(args.parallel)
    elif args.command == "serve-synthetic":
        serve_synthetic(args.tokens, args.delay_ms)
    elif args.command == "client-ours":
        client_ours(args.url, args.prompts, args.concurrency, args.output_tokens)
    elif args.command == "client-reference":
        client_reference(args.url, args.prompts, args.concurrency, args.output_tokens)
    else:
        if args.command in ("all", "accuracy"):
            accuracy_and_overhead(args)
        if args.command in ("all", "scale"):
            scale(args)


if __name__ == "__main__":
    main()
