"""One load point on one endpoint, end to end: prompts, bodies, the run, its row.

A telemetry window wraps the whole point, so the row carries the point's energy and
J per request / per output token at that concurrency.
"""

from __future__ import annotations

from typing import Any

from pytest_mmbench.request.body import (
    LENGTH_FIELDS,
    build_body,
    build_headers,
    chat_url,
    encode,
    warmup_body,
)
from pytest_mmbench.results.cost import load_cost
from pytest_mmbench.results.load_row import output_length, point_row
from pytest_mmbench.results.stats import energy_figures
from pytest_mmbench.run.load.engine import Target, run_point
from pytest_mmbench.run.load.hosts import ClientHostError
from pytest_mmbench.run.load.prompts import build_prompts
from pytest_mmbench.run.session import BenchSession
from pytest_mmbench.spec.cases import Case
from pytest_mmbench.spec.endpoints import Endpoint
from pytest_mmbench.spec.load_plan import LoadPoint


class LoadUnsupported(Exception):
    """The probe showed the endpoint ignores what the point sends (its images)."""


class LoadSetupError(Exception):
    """The point could not start (its prompts could not be sized)."""


def run_load_point(
    session: BenchSession, endpoint: Endpoint, case: Case, point: LoadPoint
) -> dict[str, Any]:
    base_url = session.base_url(endpoint)
    drop = session.dropped_fields(endpoint)  # probed before any timed window
    found = session.capabilities(endpoint)
    verdict = found.media_verdict("image") if found is not None and point.image_size else None
    if verdict is not None and verdict.consumed is False:
        raise LoadUnsupported(str(verdict.reason()["message"]))
    telemetry = session.telemetry(endpoint)
    headers = build_headers(endpoint)
    try:
        prompts = build_prompts(
            session.http(endpoint),
            base_url,
            endpoint.model,
            headers,
            point.input_tokens,
            point.requests,
            point.seed,
            point.prefix_reuse,
            lambda i: session.nonce(endpoint, f"{case.id}-{point.label}", i),
            point.image_size,
            point.images,
        )
    except RuntimeError as exc:
        raise LoadSetupError(str(exc)) from None
    bodies = [  # every request serialised before the point starts
        encode(
            build_body(
                endpoint,
                messages,
                max_tokens=point.output_tokens,
                exact_length=point.ignore_eos,
                extra_body=case.extra_body,
                drop=drop,
            )
        )
        for messages in prompts.bodies
    ]
    dropped_length = sorted(name for name in LENGTH_FIELDS if name in drop)
    target = Target(
        chat_url(base_url), headers, endpoint.timeout_s, warmup=warmup_body(endpoint, drop)
    )
    clients = session.client_hosts()
    with telemetry.window(f"{case.id} {point.label}", kind="load") as window:
        try:
            if clients is not None:
                run = clients.run(target, point, bodies)
            else:
                run = run_point(target, point, bodies)
        except ClientHostError as exc:
            raise LoadSetupError(str(exc)) from None
    row = point_row(run, point.slo)
    row["output_length"] = output_length(
        row, point.output_tokens, point.ignore_eos, dropped_length, sorted(drop)
    )
    row["output_length_not_enforced"] = row["output_length"]["not_enforced"]
    out_tokens = (row["output_tokens"]["mean"] or 0) * row["completed"]
    energy = energy_figures(
        window.result,
        int(out_tokens) or None,
        row["output_tok_s"],
        (telemetry.context() or {}).get("idle_power_w"),
    )
    if energy["energy_j"] is not None and row["completed"]:
        energy["j_per_request"] = energy["energy_j"] / row["completed"]
    done = [e for e in row["request_log"] if e["error"] is None]
    row["cost"] = load_cost(
        endpoint.price,
        row["wall_s"],
        row["completed"],
        [e["input_tokens"] for e in done],
        [e["output_tokens"] for e in done],
    )
    return {
        "endpoint": endpoint.id,
        "case_id": case.id,
        **point.describe(),
        **prompts.describe(),
        **row,
        "telemetry": energy,
    }
