"""Does telemetry sampling disturb request timing?  (runs on any machine, no GPU needed)

Runs the same fixed-length requests against the embedded llama.cpp server three ways:
without telemetry, and with a Prometheus sampler at 10 Hz and at 50 Hz scraping a
local exporter (an HTTP scrape plus text parsing per sample: the costlier of our two
sources in Python).  For each it prints how far our decode tok/s and TTFT stray from
the server's own ``timings``, and the sampler thread's CPU use.  If sampling delayed
chunk timestamps, the decode error and TTFT gap would grow with the rate.

Usage: python benchmarks/sampler_overhead.py [--requests 8] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pytest_mmbench.run.session import BenchSession
from pytest_mmbench.run.single import run_case
from pytest_mmbench.servers.embedded import EmbeddedServer
from pytest_mmbench.spec.cases import parse_case
from pytest_mmbench.spec.endpoints import EmbeddedSettings, Endpoint
from pytest_mmbench.telemetry import TelemetryConfig

STARTED = time.perf_counter()


class Exporter(BaseHTTPRequestHandler):
    """dcgm-exporter-shaped text for one 250 W GPU whose energy counter advances."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        energy_mj = int(250_000 * (time.perf_counter() - STARTED))
        body = (
            f'DCGM_FI_DEV_POWER_USAGE{{gpu="0"}} 250\n'
            f'DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{gpu="0"}} {energy_mj}\n'
            f'DCGM_FI_DEV_GPU_TEMP{{gpu="0"}} 60\nDCGM_FI_DEV_FB_USED{{gpu="0"}} 1000\n'
            f'DCGM_FI_DEV_GPU_UTIL{{gpu="0"}} 90\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    exporter = ThreadingHTTPServer(("127.0.0.1", 0), Exporter)
    threading.Thread(target=exporter.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{exporter.server_address[1]}/metrics"
    server = EmbeddedServer(EmbeddedSettings())
    base_url = server.start()
    case = parse_case(
        {
            "id": "overhead",
            "modality": "text",
            "max_tokens": args.max_tokens,
            "prompt": "Tell me a long story about a dragon.",
            "extra_body": {"ignore_eos": True},
        },
        "benchmark",
        require_check=False,
    )
    conditions = [
        ("no telemetry", TelemetryConfig(source="none"), 10.0),
        ("prometheus 10 Hz", TelemetryConfig(source="prometheus", url=url, preset="dcgm"), 10.0),
        ("prometheus 50 Hz", TelemetryConfig(source="prometheus", url=url, preset="dcgm"), 50.0),
    ]
    print(
        f"{'condition':<18} {'decode err % (mean, worst)':>27} {'TTFT-prompt_ms (mean)':>22} "
        f"{'sampler CPU %':>14}"
    )
    for label, config, hz in conditions:
        endpoint = Endpoint(id="local", model="smollm2", base_url=base_url, telemetry=config)
        session = BenchSession([endpoint], sample_hz=hz, idle_s=0)
        started = time.perf_counter()
        result = run_case(session, endpoint, case, rounds=args.requests, warmup=1)
        elapsed = time.perf_counter() - started
        sampler = session.telemetry(endpoint).sampler
        cpu = 100 * sampler.thread_cpu_s / elapsed if sampler else None
        session.close()
        errors, gaps = [], []
        for r in result.rounds:
            if r.error or not r.server_timings or r.metrics.decode_tok_s is None:
                continue
            server_rate = r.server_timings["predicted_per_second"]
            errors.append(100 * (r.metrics.decode_tok_s - server_rate) / server_rate)
            gaps.append((r.metrics.ttft_ms or 0.0) - r.server_timings["prompt_ms"])
        worst = max(errors, key=abs)
        cpu_text = f"{cpu:.2f}" if cpu is not None else "-"
        print(
            f"{label:<18} {statistics.fmean(errors):>+12.3f} {worst:>+13.3f} "
            f"{statistics.fmean(gaps):>22.2f} {cpu_text:>14}"
        )
    server.stop()
    exporter.shutdown()


if __name__ == "__main__":
    main()
