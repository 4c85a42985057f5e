"""Estimated cost of requests, from an endpoint's :class:`~pytest_mmbench.spec.price.Price`.

Token prices charge each request for its own prompt and output tokens.  An hourly price
charges the endpoint's time: a case round runs alone, so it pays its whole wall time;
the requests of a load point share the point's wall time, so each pays
``cost_per_hour * duration / completed requests`` (its share at the measured
concurrency).  Without a price, or without the token counts a price needs, the cost is
``None`` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_mmbench.spec.price import Price

NO_PRICE = "no price: set price = { input_per_m, output_per_m } or cost_per_hour in hosts.toml"


def request_cost(
    price: Price | None, input_tokens: int | None, output_tokens: int | None, seconds: float | None
) -> tuple[float | None, str | None]:
    """(cost, reason-if-missing) of one request that had the endpoint to itself."""
    if price is None:
        return None, NO_PRICE
    if price.per_hour is not None:
        if seconds is None:
            return None, "no wall time for this request"
        return price.per_hour * seconds / 3600, None
    if input_tokens is None or output_tokens is None:
        return None, "the server reported no token counts to price"
    assert price.input_per_m is not None and price.output_per_m is not None
    return (input_tokens * price.input_per_m + output_tokens * price.output_per_m) / 1e6, None


def load_cost(
    price: Price | None,
    duration_s: float | None,
    completed: int,
    input_tokens: Sequence[int | None],
    output_tokens: Sequence[int | None],
) -> dict[str, Any]:
    """Cost figures of a load point: per request and per 1M output tokens."""
    out: dict[str, Any] = {"per_request": None, "per_m_output_tokens": None, "missing": None}
    if price is None:
        out["missing"] = NO_PRICE
        return out
    if not completed:
        out["missing"] = "no completed request"
        return out
    total_output = sum(n for n in output_tokens if n is not None)
    if price.per_hour is not None:
        if duration_s is None:
            out["missing"] = "no duration"
            return out
        total = price.per_hour * duration_s / 3600
    else:
        if any(n is None for n in (*input_tokens, *output_tokens)):
            out["missing"] = "some requests had no server token counts to price"
            return out
        costs = [
            request_cost(price, i, o, None)[0] or 0.0
            for i, o in zip(input_tokens, output_tokens, strict=True)
        ]
        total = sum(costs)
    out["per_request"] = total / completed
    out["per_m_output_tokens"] = total / total_output * 1e6 if total_output else None
    if not total_output:
        out["missing"] = "no output tokens"
    return out


def endpoint_cost(
    records: Sequence[Mapping[str, Any]], price: Mapping[str, Any] | None
) -> dict[str, Any]:
    """Seed 004's cost per task, and cost per passed task and per 1M output tokens."""
    out: dict[str, Any] = {
        "currency": (price or {}).get("currency"),
        "basis": (price or {}).get("basis"),
        "per_task": None,
        "per_passed_task": None,
        "per_m_output_tokens": None,
        "missing": {},
    }
    missing: dict[str, str] = out["missing"]
    if price is None:
        for key in ("per_task", "per_passed_task", "per_m_output_tokens"):
            missing[key] = NO_PRICE
        return out
    measured = [r for r in records if r["status"] in ("passed", "failed")]
    costs = [((r.get("summary") or {}).get("cost") or {}).get("mean") for r in measured]
    if not measured or any(c is None for c in costs):
        reason = "no measured case" if not measured else _first_cost_reason(measured)
        for key in ("per_task", "per_passed_task", "per_m_output_tokens"):
            missing[key] = reason
        return out
    total = sum(c for c in costs if c is not None)
    out["per_task"] = total / len(measured)
    passed = sum(1 for r in measured if r["status"] == "passed")
    if passed:
        out["per_passed_task"] = total / passed
    else:
        missing["per_passed_task"] = "no case passed"
    tokens = [((r.get("summary") or {}).get("output_tokens") or {}).get("mean") for r in measured]
    if all(t is not None for t in tokens) and sum(tokens):  # type: ignore[arg-type]
        out["per_m_output_tokens"] = total / sum(tokens) * 1e6  # type: ignore[arg-type]
    else:
        missing["per_m_output_tokens"] = "no output token count"
    return out


def _first_cost_reason(records: Sequence[Mapping[str, Any]]) -> str:
    for record in records:
        for round_ in record.get("rounds") or ():
            reason = round_.get("cost_missing")
            if reason:
                return str(reason)
    return "no cost figure"
