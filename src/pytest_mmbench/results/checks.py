"""Deterministic answer checks: does a model's answer pass a case?

A case's ``check`` table may combine several kinds; the answer passes when every one
passes.  Each kind is validated when the case file is loaded (so a typo fails at
collection with the file and case named) and evaluated with a one-line explanation
that the failure report shows next to the answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class CheckSpecError(ValueError):
    """A check table that cannot be evaluated; the message names the bad key."""


@dataclass(frozen=True)
class CheckOutcome:
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "detail": self.detail}


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _fold(text: str, spec: dict[str, Any]) -> str:
    return text if spec.get("case_sensitive") else text.casefold()


def _as_list(value: Any, key: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) for v in items):
        raise CheckSpecError(f"check.{key} must be a string or a non-empty list of strings")
    return items


def _contains(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    options = _as_list(value, "contains")
    text = _fold(answer, spec)
    hits = [o for o in options if _fold(o, spec) in text]
    if hits:
        return CheckOutcome(True, f"contains {hits[0]!r}")
    return CheckOutcome(False, f"contains none of {options!r}")


def _contains_all(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    needed = _as_list(value, "contains_all")
    text = _fold(answer, spec)
    absent = [n for n in needed if _fold(n, spec) not in text]
    if absent:
        return CheckOutcome(False, f"missing {absent!r}")
    return CheckOutcome(True, f"contains all of {needed!r}")


def _not_contains(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    banned = _as_list(value, "not_contains")
    text = _fold(answer, spec)
    present = [b for b in banned if _fold(b, spec) in text]
    if present:
        return CheckOutcome(False, f"contains forbidden {present!r}")
    return CheckOutcome(True, f"contains none of {banned!r}")


def _regex(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    """Every pattern must match somewhere (alternatives go inside one pattern with ``|``)."""
    patterns = _as_list(value, "regex")
    flags = (0 if spec.get("case_sensitive") else re.IGNORECASE) | re.MULTILINE
    unmatched = []
    for pattern in patterns:
        try:
            if not re.search(pattern, answer, flags):
                unmatched.append(pattern)
        except re.error as exc:
            raise CheckSpecError(f"check.regex {pattern!r} is not a valid pattern: {exc}") from None
    if unmatched:
        return CheckOutcome(False, f"no match for {unmatched!r}")
    return CheckOutcome(True, f"matches {patterns!r}")


def _number(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    """The last number in the answer must equal ``value`` (within ``tolerance``).

    The last number, because reasoning answers show their working first and state the
    result at the end, as in GSM8K-style grading.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CheckSpecError("check.number must be a number")
    tolerance = spec.get("tolerance", 0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise CheckSpecError("check.tolerance must be a number >= 0")
    found = _NUMBER.findall(answer)
    if not found:
        return CheckOutcome(False, f"no number in the answer (expected {value})")
    last = float(found[-1].replace(",", ""))
    if abs(last - value) <= tolerance:
        return CheckOutcome(True, f"final number {last:g} == {value}")
    return CheckOutcome(False, f"final number {last:g} != expected {value} (tolerance {tolerance})")


def _json_schema(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    """The answer (or the first fenced/braced JSON in it) must validate against the schema."""
    import jsonschema

    if not isinstance(value, dict):
        raise CheckSpecError("check.json_schema must be a table holding a JSON Schema")
    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.SchemaError as exc:
        raise CheckSpecError(f"check.json_schema is not a valid schema: {exc.message}") from None
    document = _extract_json(answer)
    if document is None:
        return CheckOutcome(False, "no JSON document found in the answer")
    errors = sorted(jsonschema.Draft202012Validator(value).iter_errors(document), key=str)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        return CheckOutcome(False, f"JSON invalid at {where}: {errors[0].message}")
    return CheckOutcome(True, "JSON matches the schema")


def _max_words(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CheckSpecError("check.max_words must be a positive integer")
    words = len(answer.split())
    if words <= value:
        return CheckOutcome(True, f"{words} words <= {value}")
    return CheckOutcome(False, f"{words} words > limit {value}")


def _wer(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    """Word error rate of the answer against a reference transcript (jiwer), with both
    lower-cased and stripped of punctuation, so "The fox." and "the fox" match."""
    if not isinstance(value, dict) or not isinstance(value.get("reference"), str):
        raise CheckSpecError('check.wer must be a table: { reference = "...", max = 0.3 }')
    limit = value.get("max", 0.3)
    if isinstance(limit, bool) or not isinstance(limit, (int, float)) or limit < 0:
        raise CheckSpecError("check.wer.max must be a number >= 0")
    reference, hypothesis = _words(value["reference"]), _words(answer)
    if not hypothesis:  # also how validation runs: no jiwer needed to load a case file
        return CheckOutcome(False, "empty transcript")
    try:
        import jiwer
    except ImportError:
        raise CheckSpecError("check.wer needs jiwer: pip install 'pytest-mmbench[media]'") from None
    rate = float(jiwer.wer(reference, hypothesis))
    verdict = rate <= limit
    return CheckOutcome(verdict, f"WER {rate:.2f} {'<=' if verdict else '>'} {limit}")


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.casefold()))


def _max_repetition(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    """The answer must not loop: the share of repeated word 3-grams stays under ``value``.

    A model that loops on ambiguous input (seed 000's synthetic tone) repeats the same
    phrase until max_tokens; a normal answer repeats few 3-grams.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise CheckSpecError("check.max_repetition must be a share between 0 and 1")
    words = answer.casefold().split()
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if not grams:
        return CheckOutcome(True, "too short to loop")
    repeated = 1 - len(set(grams)) / len(grams)
    verdict = repeated <= value
    return CheckOutcome(
        verdict, f"{repeated:.0%} of 3-grams repeated ({'<=' if verdict else '>'} {value:.0%})"
    )


def _extract_json(answer: str) -> Any:
    fenced = re.search(r"```(?:json)?\s*(.*?)```", answer, re.DOTALL)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(answer)
    start = min((i for i in (answer.find("{"), answer.find("[")) if i >= 0), default=-1)
    if start >= 0:
        candidates.append(answer[start:])
    decoder = json.JSONDecoder()
    for text in candidates:
        text = text.strip()
        if not text:
            continue
        try:
            document, _ = decoder.raw_decode(text)
        except ValueError:
            continue
        return document
    return None


CheckFn = Callable[[str, Any, dict[str, Any]], CheckOutcome]
CHECKS: dict[str, CheckFn] = {
    "contains": _contains,
    "contains_all": _contains_all,
    "not_contains": _not_contains,
    "regex": _regex,
    "number": _number,
    "json_schema": _json_schema,
    "max_words": _max_words,
    "wer": _wer,
    "max_repetition": _max_repetition,
}
MODIFIERS = ("case_sensitive", "tolerance")


def validate_spec(spec: Any) -> dict[str, Any]:
    """Reject unknown kinds and bad values up front, by evaluating against a dummy answer."""
    if not isinstance(spec, dict) or not spec:
        kinds = ", ".join(CHECKS)
        raise CheckSpecError(f"check must be a table with at least one of: {kinds}")
    unknown = sorted(set(spec) - set(CHECKS) - set(MODIFIERS))
    if unknown:
        raise CheckSpecError(
            f"unknown check kind {unknown[0]!r}; use {', '.join(CHECKS)} "
            f"(modifiers: {', '.join(MODIFIERS)})"
        )
    if not set(spec) & set(CHECKS):
        raise CheckSpecError(f"check has only modifiers; add one of {', '.join(CHECKS)}")
    if "case_sensitive" in spec and not isinstance(spec["case_sensitive"], bool):
        raise CheckSpecError("check.case_sensitive must be true or false")
    evaluate(spec, "")
    return spec


def evaluate(spec: dict[str, Any], answer: str) -> CheckOutcome:
    """All kinds in ``spec`` must pass; the detail lists each kind's verdict."""
    outcomes = [
        (kind, CHECKS[kind](answer, value, spec)) for kind, value in spec.items() if kind in CHECKS
    ]
    passed = all(outcome.passed for _, outcome in outcomes)
    detail = "; ".join(
        f"{kind}: {'ok' if o.passed else 'FAIL'} ({o.detail})" for kind, o in outcomes
    )
    return CheckOutcome(passed, detail)
