"""A load point's row: latency percentiles, throughput, RPM, errors, goodput, queueing.

Definitions (the README repeats them):

* TTFT: from when the request was *due* to its first content, reasoning or tool-call
  chunk (results.metrics has every per-request definition), so any
  wait in our own client counts; that wait is also reported alone as ``queue_ms``.
* end-to-end latency: from due to the end of the stream.
* ITL: gaps between consecutive token chunks of a request, pooled over the point.
* TPOT (per request): (finish chunk - first token) / (output tokens - 1).
* output throughput: all output tokens / the point's wall time; total token throughput
  adds input tokens; request throughput and RPM count completed requests.
* goodput: completed requests meeting every SLO figure, per second of wall time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_mmbench.request.trace import Trace
from pytest_mmbench.results.metrics import RequestMetrics, compute, gaps_ms
from pytest_mmbench.results.stats import spread
from pytest_mmbench.run.load.engine import ClientHost, PointRun

CLIENT_BOUND_SHARE = 0.9  # of one core
NO_OUTPUT = "the stream ended without any output delta"


def meets_slo(figures: RequestMetrics, slo: Mapping[str, float]) -> bool:
    values = {"ttft_ms": figures.ttft_ms, "e2e_ms": figures.e2e_ms, "tpot_ms": figures.tpot_ms}
    return all(
        values[key] is not None and values[key] <= limit  # type: ignore[operator]
        for key, limit in slo.items()
    )


def completed(record: Trace) -> bool:
    return record.error is None and bool(record.token_ns) and record.end_ns is not None


def point_row(run: PointRun, slo: Mapping[str, float]) -> dict[str, Any]:
    """Every request is counted once: completed, failed (an error, or a stream with no
    output at all), or in flight when the point was interrupted."""
    wall_s = (run.end_ns - run.start_ns) / 1e9
    by_record = {id(r): compute(r) for r in run.records}  # the one metrics function, once
    in_flight = [r for r in run.records if r.error_kind == "interrupted"]
    done = [r for r in run.records if completed(r)]
    failed = [r for r in run.records if not completed(r) and r.error_kind != "interrupted"]
    settled = len(run.records) - len(in_flight)
    figures = [by_record[id(r)] for r in done]
    out_tokens = [f.output_tokens for f in figures if f.output_tokens is not None]
    in_tokens = [f.input_tokens for f in figures if f.input_tokens is not None]
    itl = [gap for r in done for gap in gaps_ms(r)]
    per_request_tok_s = [f.output_tok_s for f in figures]
    cpu_share = run.client_cpu_s / wall_s / max(1, run.processes) if wall_s > 0 else None
    hosts = [host_entry(host) for host in run.hosts]
    row: dict[str, Any] = {
        "requests": len(run.records) + run.lost,
        "partial": any(host["status"] == "died" for host in hosts),
        "lost_with_client": run.lost,
        "completed": len(done),
        "interrupted": run.interrupted,
        "in_flight_at_interrupt": len(in_flight),
        "wall_start": min((r.wall_start for r in run.records), default=None),
        "output_tokens_estimated": sum(f.output_tokens_estimated for f in figures),
        "errors": len(failed),
        "error_rate": len(failed) / settled if settled else None,
        "error_examples": sorted({r.error or NO_OUTPUT for r in failed})[:3],
        "wall_s": wall_s,
        "ttft_ms": spread(f.ttft_ms for f in figures),
        "ttfo_ms": spread(f.ttfo_ms for f in figures),
        "e2e_ms": spread(f.e2e_ms for f in figures),
        "itl_ms": spread(itl),
        "tpot_ms": spread(f.tpot_ms for f in figures),
        "queue_ms": spread(by_record[id(r)].queue_ms for r in run.records if r.first_sent_ns),
        "cached_tokens": spread(f.cached_tokens for f in figures),
        "tokens_per_chunk": spread(f.tokens_per_chunk for f in figures),
        "request_output_tok_s": spread(per_request_tok_s),
        "output_tokens": spread([float(t) for t in out_tokens]),
        "input_tokens": spread([float(t) for t in in_tokens]),
        "output_tok_s": sum(out_tokens) / wall_s if wall_s > 0 and out_tokens else None,
        "total_tok_s": (sum(out_tokens) + sum(in_tokens)) / wall_s
        if wall_s > 0 and out_tokens and in_tokens
        else None,
        "request_rate": len(done) / wall_s if wall_s > 0 else None,
        "rpm": 60 * len(done) / wall_s if wall_s > 0 else None,
        "goodput_rps": None,
        "goodput_share": None,
        "client_cpu_s": run.client_cpu_s,
        "client_cpu_share": cpu_share,
        "client_bound": (cpu_share is not None and cpu_share >= CLIENT_BOUND_SHARE)
        or any(host["client_bound"] for host in hosts),
        "processes": run.processes,
        "hosts": hosts,
        "stale_connection_retries": sum(r.stale_connection_retries for r in run.records),
        "server_decode_tok_s": spread((r.timings or {}).get("predicted_per_second") for r in done),
        "server_prompt_ms": spread((r.timings or {}).get("prompt_ms") for r in done),
        "missing": {},
    }
    ordered = sorted(run.records, key=lambda r: r.index)
    row["request_log"] = [request_entry(r, by_record[id(r)]) for r in ordered]
    if slo:
        good = sum(1 for f in figures if meets_slo(f, slo))
        row["goodput_rps"] = good / wall_s if wall_s > 0 else None
        row["goodput_share"] = good / settled if settled else None
    else:
        row["missing"]["goodput_rps"] = "no SLO given (--mm-slo=ttft_ms:200,tpot_ms:50)"
    if not out_tokens:
        row["missing"]["output_tok_s"] = "no completed request reported output tokens"
    return row


def host_entry(host: ClientHost) -> dict[str, Any]:
    """One client host's part: its CPU per process over its own span, and its clock."""
    entry = host.describe()
    wall = host.wall_s
    share = host.client_cpu_s / wall / max(1, host.processes) if wall else None
    entry["client_cpu_share"] = share
    entry["client_bound"] = share is not None and share >= CLIENT_BOUND_SHARE
    return entry


def output_length(
    row: Mapping[str, Any],
    target: int,
    asked_exact: bool,
    dropped: list[str],
    dropped_all: list[str],
) -> dict[str, Any]:
    """Did requests produce the output length the point asked for?  (AIPerf's OSL
    mismatch.)  Where the endpoint rejects ``ignore_eos`` / ``min_tokens`` they are left
    out, ``max_tokens`` alone caps the length, and the real lengths are what count."""
    known = [
        e["output_tokens"]
        for e in row["request_log"]
        if e["error"] is None and e["output_tokens"] is not None and e["ttft_ms"] is not None
    ]
    missed = sum(1 for n in known if n != target)
    if not asked_exact:
        how = "max_tokens only (the case set ignore_eos = false)"
    elif dropped:
        how = f"max_tokens only: the endpoint rejects {', '.join(dropped)}"
    else:
        how = "ignore_eos and min_tokens"
    return {
        "target": target,
        "enforced_by": how,
        "not_enforced": bool(dropped) or not asked_exact or missed > 0,
        "missed": missed if known else None,
        "missed_share": missed / len(known) if known else None,
        "fields_dropped": dropped_all,
    }


def request_entry(record: Trace, figures: RequestMetrics) -> dict[str, Any]:
    """One request of a point, with its wall-clock start (epoch seconds), so a run can be
    laid next to server logs or a Prometheus timeline."""
    return {
        "index": record.index,
        "wall_start": record.wall_start or None,
        "queue_ms": figures.queue_ms,
        "ttft_ms": figures.ttft_ms,
        "e2e_ms": figures.e2e_ms,
        "output_tokens": figures.output_tokens,
        "input_tokens": figures.input_tokens,
        "cached_tokens": figures.cached_tokens,
        "error": record.error,
    }
