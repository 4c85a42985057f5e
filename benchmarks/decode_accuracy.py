"""How close are our client-side figures to llama.cpp's own, at concurrency 1?

Starts the embedded SmolLM2 server, runs N streamed requests with a fixed output
length (ignore_eos), and compares per request:

* our decode tok/s with the server's ``timings.predicted_per_second``;
* our TTFT with the server's ``timings.prompt_ms`` (TTFT also includes HTTP, queueing
  and the first token's sampling, so it should sit a few ms above).

Usage: python benchmarks/decode_accuracy.py [--requests 10] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import statistics

from pytest_mmbench.run.session import BenchSession
from pytest_mmbench.run.single import run_case
from pytest_mmbench.servers.embedded import EmbeddedServer
from pytest_mmbench.spec.cases import parse_case
from pytest_mmbench.spec.endpoints import EmbeddedSettings, Endpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128)
    args = parser.parse_args()

    server = EmbeddedServer(EmbeddedSettings())
    endpoint = Endpoint(id="local", model="smollm2", base_url=server.start())
    session = BenchSession([endpoint])
    case = parse_case(
        {
            "id": "decode-accuracy",
            "modality": "text",
            "prompt": "Tell me a long story about a dragon and a lighthouse.",
            "max_tokens": args.max_tokens,
            "extra_body": {"ignore_eos": True},
        },
        "benchmark",
        require_check=False,
    )
    try:
        result = run_case(session, endpoint, case, rounds=args.requests, warmup=1)
    finally:
        session.close()
        server.stop()

    decode_err, ttft_gap = [], []
    print(
        f"{'req':>3} {'ours tok/s':>10} {'server tok/s':>12} {'err %':>7} "
        f"{'TTFT ms':>8} {'prompt_ms':>9} {'gap ms':>7}"
    )
    for r in result.rounds:
        if r.error or r.server_timings is None or r.metrics.decode_tok_s is None:
            print(f"{r.index:>3} failed: {r.error or 'no server timings'}")
            continue
        ours, theirs = r.metrics.decode_tok_s, r.server_timings["predicted_per_second"]
        ttft, prompt_ms = r.metrics.ttft_ms or 0.0, r.server_timings["prompt_ms"]
        decode_err.append(100 * (ours - theirs) / theirs)
        ttft_gap.append(ttft - prompt_ms)
        print(
            f"{r.index:>3} {ours:>10.2f} {theirs:>12.2f} {decode_err[-1]:>7.3f} "
            f"{ttft:>8.1f} {prompt_ms:>9.1f} {ttft_gap[-1]:>7.2f}"
        )
    if decode_err:
        worst = max(decode_err, key=abs)
        print(
            f"decode tok/s error: mean {statistics.fmean(decode_err):+.3f}%, "
            f"worst {worst:+.3f}% over {len(decode_err)} requests"
        )
        print(
            f"TTFT - server prompt_ms: mean {statistics.fmean(ttft_gap):.2f} ms, "
            f"max {max(ttft_gap):.2f} ms"
        )


if __name__ == "__main__":
    main()
