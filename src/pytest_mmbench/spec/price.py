"""What an endpoint costs: token prices, or an hourly price for self-hosted hardware.

Seed 004 compared models on "Est. cost / task" from per-1M-token prices; a self-hosted
GPU has no token price but an hourly one (rent, or amortised purchase and power).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_KEYS = ("input_per_m", "output_per_m", "currency")


@dataclass(frozen=True)
class Price:
    input_per_m: float | None = None  # per 1M prompt tokens
    output_per_m: float | None = None  # per 1M output tokens
    per_hour: float | None = None  # of the whole endpoint, however many requests share it
    currency: str = "USD"

    @property
    def basis(self) -> str:
        return "tokens" if self.per_hour is None else "hourly"

    def describe(self) -> dict[str, Any]:
        return {
            "basis": self.basis,
            "input_per_m": self.input_per_m,
            "output_per_m": self.output_per_m,
            "cost_per_hour": self.per_hour,
            "currency": self.currency,
        }


def parse_price(
    table: Any, per_hour: float | None, error: Callable[[str, str], Exception]
) -> Price:
    """``price = { input_per_m = 0.05, output_per_m = 0.10 }`` or ``cost_per_hour = 2.5``."""
    if table is not None and per_hour is not None:
        raise error("cost_per_hour", "give either price (per token) or cost_per_hour, not both")
    if table is None:
        return Price(per_hour=per_hour)
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise error("price", f"unknown key {unknown[0]!r}; use {', '.join(_KEYS)}")
    values = {}
    for key in ("input_per_m", "output_per_m"):
        value = table.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise error("price", f"{key} must be a number >= 0 (price per 1M tokens)")
        values[key] = float(value)
    currency = table.get("currency", "USD")
    if not isinstance(currency, str) or not currency:
        raise error("price", "currency must be a string such as USD")
    return Price(values["input_per_m"], values["output_per_m"], currency=currency)
