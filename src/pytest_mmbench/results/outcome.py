"""What a check says: its verdict, a one-line reason, and facts for the summaries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class CheckSpecError(ValueError):
    """A check table that cannot be evaluated; the message names the bad key."""


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    detail: str
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"passed": self.passed, "detail": self.detail}
        if self.facts:
            out["facts"] = dict(self.facts)
        return out
