"""The per-case result: the only thing that crosses from xdist workers to the main process.

A :class:`CaseResult` is built where the case ran, turned into plain JSON-able data and
attached to the test report as a ``user_properties`` entry, which pytest and
pytest-xdist already serialize.  The main process reads it back from the report; it
never needs the worker's objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pytest_mmbench.request.trace import ToolCall, Trace
from pytest_mmbench.results.metrics import NUMERIC_METRICS, RequestMetrics
from pytest_mmbench.results.outcome import CheckOutcome
from pytest_mmbench.results.stats import ENERGY_METRICS, spread

SCHEMA_VERSION = "1.0"
PROPERTY = "mmbench"  # user_properties key carrying a finished record
IDENTITY = "mmbench_id"  # user_properties key set at collection, so skips are reported too
LOAD_PROPERTY = "mmbench_load"  # user_properties key carrying a load point's row
EXTRA = ("cost",)  # per-round figures outside metrics and telemetry


@dataclass
class RoundResult:
    """One recorded request of a case."""

    index: int
    metrics: RequestMetrics
    answer: str
    reasoning: str
    finish_reason: str | None
    status_code: int | None
    check: CheckOutcome | None
    error: str | None
    error_kind: str | None
    server_timings: Mapping[str, Any] | None
    stale_connection_retries: int = 0
    telemetry: Mapping[str, Any] | None = None
    wall_start: float | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    reasoning_used_budget: bool = False  # thought until max_tokens, empty answer
    cost: float | None = None
    cost_missing: str | None = None

    @classmethod
    def from_trace(
        cls, raw: Trace, metrics: RequestMetrics, check: CheckOutcome | None
    ) -> RoundResult:
        return cls(
            index=raw.index,
            wall_start=raw.wall_start or None,
            tool_calls=tuple(raw.tool_calls),
            metrics=metrics,
            answer=raw.content,
            reasoning=raw.reasoning,
            finish_reason=raw.finish_reason,
            status_code=raw.status_code,
            check=check,
            error=raw.error,
            error_kind=raw.error_kind,
            server_timings=raw.timings,
            stale_connection_retries=raw.stale_connection_retries,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "wall_start": self.wall_start,
            "answer": self.answer,
            "tool_calls": [call.to_dict() for call in self.tool_calls],
            "reasoning": self.reasoning,
            "finish_reason": self.finish_reason,
            "status_code": self.status_code,
            "check": self.check.to_dict() if self.check else None,
            "error": self.error,
            "error_kind": self.error_kind,
            "metrics": self.metrics.to_dict(),
            "server_timings": dict(self.server_timings) if self.server_timings else None,
            "stale_connection_retries": self.stale_connection_retries,
            "telemetry": dict(self.telemetry) if self.telemetry is not None else None,
            "reasoning_used_budget": self.reasoning_used_budget,
            "cost": self.cost,
            "cost_missing": self.cost_missing,
        }


@dataclass
class CaseResult:
    """One (endpoint, case) outcome with every round and the spread across rounds."""

    endpoint: str
    case_id: str
    marker: str
    rounds: list[RoundResult] = field(default_factory=list)
    has_check: bool = True
    telemetry_context: Mapping[str, Any] | None = None
    gate: Mapping[str, str] | None = None
    media: Mapping[str, Any] | None = None  # what was sent: images, pixels, bytes
    # Set when the endpoint's probe showed it accepts this modality but ignores it.
    unsupported: Mapping[str, Any] | None = None
    media_check: Mapping[str, Any] | None = None  # the probe's verdict on this modality
    cache_hygiene: str | None = None
    category: str | None = None
    variant: str | None = None
    variant_of: str | None = None
    uses_tools: bool = False

    @property
    def status(self) -> str:
        """error if any round failed to complete; failed if any round's check failed."""
        if self.unsupported is not None:
            return "unsupported"  # accepted, but the probe showed the media is ignored
        if not self.rounds:
            return "error"
        if any(r.error_kind == "unsupported" for r in self.rounds):
            return "unsupported"  # the server refused this kind of input: not a crash
        if any(r.error for r in self.rounds):
            return "error"
        if self.has_check and not all(r.check and r.check.passed for r in self.rounds):
            return "failed"
        return "passed"

    @property
    def modality(self) -> str:
        from pytest_mmbench.modalities import MARKER_MODALITY

        return MARKER_MODALITY[self.marker]

    @property
    def error(self) -> str | None:
        if self.unsupported is not None:
            return str(self.unsupported["message"])
        return next((r.error for r in self.rounds if r.error), None)

    @property
    def answer(self) -> str:
        return self.rounds[-1].answer if self.rounds else ""

    @property
    def first_failed_check(self) -> CheckOutcome | None:
        for r in self.rounds:
            if r.check and not r.check.passed:
                return r.check
        return None

    def summary(self) -> dict[str, Any]:
        done = [r for r in self.rounds if not r.error]
        figures = {name: spread(getattr(r.metrics, name) for r in done) for name in NUMERIC_METRICS}
        for name in ENERGY_METRICS:
            figures[name] = spread((r.telemetry or {}).get(name) for r in done)
        figures["cost"] = spread(r.cost for r in done)
        return figures

    def _media_with_energy(self) -> dict[str, Any]:
        """What was sent, plus joules per image / audio second / video frame where the
        request's energy was measured (null with the reason otherwise)."""
        media = dict(self.media or {})
        energy = self.summary()["energy_j"]["mean"]
        units = {
            "j_per_image": media.get("images"),
            "j_per_audio_second": media.get("audio_seconds"),
            "j_per_video_frame": media.get("video_frames_sent"),
        }
        for key, count in units.items():
            media[key] = energy / count if energy is not None and count else None
        if energy is None:
            media["energy_missing"] = "no energy figure for this case (see its telemetry)"
        return media

    def to_dict(self) -> dict[str, Any]:
        check = self.first_failed_check or (self.rounds[-1].check if self.rounds else None)
        estimated = any(r.metrics.output_tokens_estimated for r in self.rounds)
        return {
            "endpoint": self.endpoint,
            "case_id": self.case_id,
            "marker": self.marker,
            "category": self.category,
            "variant": self.variant,
            "variant_of": self.variant_of,
            "uses_tools": self.uses_tools,
            "status": self.status,
            "reasoning_used_budget": any(r.reasoning_used_budget for r in self.rounds),
            "answer": self.answer,
            "check": check.to_dict() if check else None,
            "error": self.error,
            "skip_reason": None,
            **(
                {
                    "unsupported": dict(self.unsupported)
                    if self.unsupported is not None
                    else {"modality": self.modality, "message": self.error}
                }
                if self.status == "unsupported"
                else {}
            ),
            **({"media_check": dict(self.media_check)} if self.media_check else {}),
            **({"cache_hygiene": self.cache_hygiene} if self.cache_hygiene else {}),
            "output_tokens_estimated": estimated,
            "rounds": [r.to_dict() for r in self.rounds],
            "summary": self.summary(),
            "telemetry_context": dict(self.telemetry_context) if self.telemetry_context else None,
            **({"gate": dict(self.gate)} if self.gate else {}),
            **({"media": self._media_with_energy()} if self.media else {}),
        }


def skipped_record(identity: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The record of a case that never ran (modality not declared, deselected by a skip)."""
    return {
        "endpoint": identity["endpoint"],
        "case_id": identity["case_id"],
        "marker": identity["marker"],
        "category": identity.get("category"),
        "variant": identity.get("variant"),
        "variant_of": identity.get("variant_of"),
        "uses_tools": bool(identity.get("uses_tools")),
        "status": "skipped",
        "reasoning_used_budget": False,
        "answer": None,
        "check": None,
        "error": None,
        "skip_reason": reason,
        "output_tokens_estimated": False,
        "rounds": [],
        "summary": {name: spread(()) for name in (*NUMERIC_METRICS, *ENERGY_METRICS, *EXTRA)},
        "telemetry_context": None,
    }


def error_record(identity: Mapping[str, Any], message: str) -> dict[str, Any]:
    """The record of a case that failed before any request (e.g. the server did not start)."""
    record = skipped_record(identity, "")
    record.update(status="error", error=message, skip_reason=None)
    return record


def find_property(properties: Iterable[tuple[str, object]], key: str) -> Any:
    for name, value in properties:
        if name == key:
            return value
    return None
