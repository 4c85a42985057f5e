"""Variants: one case run several ways, each its own test id.

Seed 002 switched a model's thinking off through ``chat_template_kwargs`` and compared;
Ollama spells it ``think = false``.  A ``variants`` table, on a case or on an endpoint,
names each way and the request fields it adds::

    variants = { thinking-on = {}, thinking-off = { extra_body = { chat_template_kwargs = {
        enable_thinking = false } } } }

Every variant becomes its own case ``<case>.<variant>`` (so ``-k thinking-off`` selects
it, and rows and gates keep them apart); the record names the variant and the case it
came from.  A variant's ``extra_body`` is merged deeply over the case's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pytest_mmbench.merge import deep_merge

if TYPE_CHECKING:
    from pytest_mmbench.spec.cases import Case

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_KEYS = ("extra_body", "max_tokens")


@dataclass(frozen=True)
class Variant:
    name: str
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    max_tokens: int | None = None


def parse_variants(value: Any, fail: Callable[[str], Exception]) -> tuple[Variant, ...]:
    """``{name = {extra_body = {...}, max_tokens = N}, ...}``; ``fail(problem)`` makes the
    error that names the file and key."""
    example = "e.g. { thinking-off = { extra_body = { think = false } } }"
    if not isinstance(value, dict) or not value:
        raise fail(f"must be a table of named variants, {example}")
    variants = []
    for name, table in value.items():
        if not _NAME.match(name):
            raise fail(f"variant name {name!r}: use letters, digits, '-' or '_'")
        if not isinstance(table, dict):
            raise fail(f"variant {name!r} must be a table, {example}")
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise fail(f"variant {name!r}: unknown key {unknown[0]!r}; use {', '.join(_KEYS)}")
        extra = table.get("extra_body", {})
        if not isinstance(extra, dict):
            raise fail(f"variant {name!r}: extra_body must be a table")
        budget = table.get("max_tokens")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0
        ):
            raise fail(f"variant {name!r}: max_tokens must be a positive integer")
        variants.append(Variant(name, extra, budget))
    return tuple(variants)


def apply_variant(case: Case, variant: Variant) -> Case:
    """The case as this variant runs it: its own id, the variant's fields merged in."""
    return dataclasses.replace(
        case,
        id=f"{case.id}.{variant.name}",
        extra_body=deep_merge(case.extra_body, variant.extra_body),
        max_tokens=variant.max_tokens or case.max_tokens,
        variant=f"{case.variant}.{variant.name}" if case.variant else variant.name,
        variant_of=case.variant_of or case.id,
        variants=(),
    )
