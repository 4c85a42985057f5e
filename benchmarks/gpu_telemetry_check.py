"""Validate the telemetry sampler on a real NVIDIA GPU (run on the GPU host).

Loads the GPU with a bf16 matmul loop in a background thread (torch), samples it with
pytest-mmbench's NVML sampler at --hz, and prints:

1. how often the NVML energy counter and instantaneous power actually change;
2. idle power over a quiet window;
3. a >= 5 s loaded window: energy from the counter vs 10 Hz trapezoid integration of
   power (target: within 3 %);
4. the sampler's mean power vs ``nvidia-smi --query-gpu=power.draw`` polled at the same
   time (target: within 10 %);
5. a 0.5 s window: must get a non-null energy figure; and a 50 ms window, to show
   what happens below the sensor refresh;
6. the sampler thread's CPU cost (target: < 1 % of one core at 10 Hz).

Usage: python benchmarks/gpu_telemetry_check.py [--gpu 0] [--hz 10] [--window-s 6]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import threading
import time
from itertools import pairwise
from typing import Any

from pytest_mmbench.telemetry import NvmlSource, Sampler
from pytest_mmbench.telemetry.window import summarize


def matmul_load(stop: threading.Event, gpu: int) -> None:
    import torch

    device = torch.device(f"cuda:{gpu}")
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    while not stop.is_set():
        for _ in range(20):
            a = (a @ b) * 1e-3  # keep values finite
        torch.cuda.synchronize(device)


def window(sampler: Sampler, seconds: float) -> dict[str, Any]:
    start = sampler.sample_now()
    time.sleep(seconds)
    end = sampler.sample_now()
    samples = sampler.between(start.t_ns, end.t_ns)
    result = summarize(samples, start.t_ns, end.t_ns, sampler.source.info.unsupported)
    points = [(s.t_ns / 1e9, sum(g.best_power_w or 0 for g in s.gpus)) for s in samples]
    result["integrated_j"] = sum(
        (t1 - t0) * (p0 + p1) / 2 for (t0, p0), (t1, p1) in pairwise(points)
    )
    result["counter_j"] = (
        sum(
            g1.energy_j - g0.energy_j
            for g0, g1 in zip(samples[0].gpus, samples[-1].gpus, strict=True)
        )
        if all(g.energy_j is not None for s in (samples[0], samples[-1]) for g in s.gpus)
        else None
    )
    result["mean_sampled_power_w"] = statistics.fmean(p for _, p in points)
    return result


def refresh_intervals(source: NvmlSource, seconds: float = 1.0) -> dict[str, float | None]:
    """Poll as fast as possible and measure how often each figure changes."""
    changes: dict[str, list[float]] = {"energy_j": [], "power_instant_w": [], "power_w": []}
    last: dict[str, float | None] = {}
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        (reading,) = source.read(with_energy=True)[:1]
        now = time.perf_counter()
        for name in changes:
            value = getattr(reading, name)
            if value is not None and value != last.get(name):
                changes[name].append(now)
                last[name] = value
    return {
        name: (
            statistics.median(b - a for a, b in pairwise(times)) * 1000 if len(times) > 2 else None
        )
        for name, times in changes.items()
    }


def nvidia_smi_poll(gpu: int, stop: threading.Event, out: list[tuple[float, float, float]]) -> None:
    query = "power.draw,power.draw.instant"
    while not stop.is_set():
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits", "-i", str(gpu)],
            capture_output=True,
            text=True,
            check=False,
        )
        parts = [p.strip() for p in done.stdout.strip().split(",")]
        with contextlib.suppress(ValueError, IndexError):  # a malformed line is skipped
            out.append((time.perf_counter(), float(parts[0]), float(parts[1])))
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", type=int, default=0)
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--window-s", type=float, default=6.0)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args()

    source = NvmlSource([args.gpu])
    sampler = Sampler(source, args.hz)
    sampler.start()
    figures: dict[str, Any] = {"gpu": source.info.gpu_names, "unsupported": source.info.unsupported}
    print(f"GPU {source.info.gpu_names}; unsupported fields: {source.info.unsupported or 'none'}")
    run_started = time.perf_counter()

    figures["refresh_ms_idle"] = refresh_intervals(source)
    print(f"refresh intervals at idle (median ms between changes): {figures['refresh_ms_idle']}")
    idle = window(sampler, 3.0)
    figures["idle"] = idle
    print(
        f"idle: {idle['avg_power_w']:.1f} W over {idle['window_s']:.2f} s "
        f"({idle['samples']} samples), {idle['avg_temp_c']:.1f} C"
    )

    stop_load = threading.Event()
    load = threading.Thread(target=matmul_load, args=(stop_load, args.gpu), daemon=True)
    load.start()
    time.sleep(3.0)  # ramp up: clocks and the 1 s power average settle
    figures["refresh_ms_loaded"] = refresh_intervals(source)
    print(f"refresh intervals under load (ms): {figures['refresh_ms_loaded']}")

    smi: list[tuple[float, float, float]] = []
    stop_smi = threading.Event()
    poller = threading.Thread(target=nvidia_smi_poll, args=(args.gpu, stop_smi, smi), daemon=True)
    t0 = time.perf_counter()
    poller.start()
    long = window(sampler, args.window_s)
    t1 = time.perf_counter()
    stop_smi.set()
    poller.join()
    smi_in = [(p, pi) for t, p, pi in smi if t0 <= t <= t1]
    figures["loaded"] = long
    err = 100 * (long["integrated_j"] - long["counter_j"]) / long["counter_j"]
    print(
        f"\nloaded window {long['window_s']:.2f} s, {long['samples']} samples, "
        f"peak {long['peak_power_w']:.1f} W, {long['avg_temp_c']:.1f} C, "
        f"util {long['util_avg_pct']:.0f} %, throttle {long['throttle_reasons']}"
    )
    print(f"  energy counter      {long['counter_j']:.1f} J  ({long['energy_method']})")
    print(
        f"  10 Hz integration   {long['integrated_j']:.1f} J  -> {err:+.2f} % vs counter "
        f"(target within 3 %)"
    )
    smi_avg = statistics.fmean(p for p, _ in smi_in) if smi_in else None
    smi_inst = statistics.fmean(pi for _, pi in smi_in) if smi_in else None
    figures["nvidia_smi"] = {
        "n": len(smi_in),
        "power_draw_w": smi_avg,
        "power_draw_instant_w": smi_inst,
    }
    if smi_avg:
        ours = long["avg_power_w"]
        print(
            f"  sampler avg power   {ours:.1f} W (counter energy / time), "
            f"mean of samples {long['mean_sampled_power_w']:.1f} W"
        )
        print(
            f"  nvidia-smi          power.draw {smi_avg:.1f} W, power.draw.instant "
            f"{smi_inst:.1f} W over {len(smi_in)} polls -> "
            f"{100 * (ours - smi_avg) / smi_avg:+.2f} % vs power.draw (target within 10 %)"
        )

    short = window(sampler, 0.5)
    figures["short_0_5s"] = short
    print(
        f"\n0.5 s window: energy {short['energy_j']} J ({short['energy_method']}), "
        f"{short['samples']} samples, missing: {short['missing'] or 'none'}"
    )
    tiny = window(sampler, 0.05)
    figures["tiny_0_05s"] = tiny
    print(
        f"0.05 s window: energy {tiny['energy_j']} ({tiny['energy_method']}), "
        f"missing: {tiny['missing'].get('energy_j', 'none')}"
    )
    stop_load.set()
    load.join()

    elapsed = time.perf_counter() - run_started
    # refresh_intervals polls the source on the main thread; only the sampler thread counts.
    cpu_pct = 100 * sampler.thread_cpu_s / elapsed
    figures["sampler_cpu_pct_of_core"] = cpu_pct
    figures["sampler_reads"] = sampler.reads
    print(
        f"\nsampler thread CPU: {sampler.thread_cpu_s * 1000:.1f} ms over {elapsed:.1f} s "
        f"= {cpu_pct:.3f} % of one core at {args.hz:g} Hz (target < 1 %)"
    )
    sampler.stop()
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(figures, handle, indent=2, default=str)


if __name__ == "__main__":
    main()
