"""Deterministic answer checks: does a model's answer pass a case?

A case's ``check`` table may combine several kinds; the answer passes when every one
passes.  Each kind is validated when the case file is loaded (so a typo fails at
collection with the file and case named) and evaluated with a one-line explanation
that the failure report shows next to the answer.

Most kinds read the answer text.  ``tool_call`` (see :mod:`.tool_checks`) also reads
the tool calls the stream assembled, and ``entities`` / lenient ``json_schema`` read a
JSON document in the answer.  A kind may leave *facts* next to its verdict (the call
format, recall per entity group, whether JSON had to be repaired) so that summaries can
count them without parsing the detail text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_mmbench.results.outcome import CheckOutcome as CheckOutcome
from pytest_mmbench.results.outcome import CheckSpecError as CheckSpecError
from pytest_mmbench.results.script_check import script_share


@dataclass(frozen=True)
class Reply:
    """What a check may look at: the answer text and the assembled tool calls."""

    content: str
    tool_calls: Sequence[Mapping[str, Any]] = ()  # {"name": ..., "arguments": "<json text>"}
    reasoning: str = ""
    finish_reason: str | None = None

    @property
    def reasoning_used_budget(self) -> bool:
        """The model thought until max_tokens and never answered (seed 002: "thinking
        tokens consume all num_predict budget and content is empty")."""
        return (
            self.finish_reason == "length"
            and bool(self.reasoning.strip())
            and not self.content.strip()
            and not self.tool_calls
        )


REASONING_USED_BUDGET = (
    "the whole token budget went to reasoning and the answer is empty: raise max_tokens "
    "or turn thinking off"
)


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
    document, repaired = read_json(answer, spec)
    facts = {"json_repaired": repaired}
    note = " (after repairing near-JSON)" if repaired else ""
    if document is None:
        return CheckOutcome(False, "no JSON document found in the answer", facts)
    errors = sorted(jsonschema.Draft202012Validator(value).iter_errors(document), key=str)
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        return CheckOutcome(False, f"JSON invalid at {where}: {errors[0].message}{note}", facts)
    return CheckOutcome(True, f"JSON matches the schema{note}", facts)


def read_json(answer: str, spec: Mapping[str, Any]) -> tuple[Any, bool]:
    """(document, repaired): the first JSON document in the answer; with ``lenient``,
    near-JSON (trailing commas, single quotes, a missing bracket) is repaired by
    json-repair and the record says it had to be."""
    document = _extract_json(answer)
    if document is not None or not spec.get("lenient") or not answer.strip():
        return document, False
    try:
        import json_repair
    except ImportError:
        raise CheckSpecError("check.lenient needs json-repair: pip install json-repair") from None
    start = min((i for i in (answer.find("{"), answer.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None, False
    repaired = json_repair.loads(answer[start:])
    if isinstance(repaired, (dict, list)) and repaired:
        return repaired, True
    return None, False


def _entities(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    """Recall per group of expected entities in the answer's JSON document.

    ``{persons = [...], places = [...]}``: each expected name is found when an item of
    the answer's list under that key contains it, ignoring case (items may be strings or
    objects with a ``name``).  Passes when every group's recall reaches ``min_recall``.
    """
    if (
        not isinstance(value, dict)
        or not value
        or not all(
            isinstance(v, list) and v and all(isinstance(i, str) for i in v) for v in value.values()
        )
    ):
        raise CheckSpecError(
            'check.entities must be a table of lists, e.g. { persons = ["Ada"], places = ["Rome"] }'
        )
    floor = spec.get("min_recall", 1.0)
    if isinstance(floor, bool) or not isinstance(floor, (int, float)) or not 0 <= floor <= 1:
        raise CheckSpecError("check.min_recall must be a share between 0 and 1")
    document, repaired = read_json(answer, spec)
    groups: dict[str, list[int]] = {}
    for group, expected in value.items():
        found_items = document.get(group) if isinstance(document, dict) else None
        names = (
            [_entity_name(item) for item in found_items or ()]
            if isinstance(found_items, list)
            else []
        )
        hits = sum(1 for want in expected if any(want.casefold() in n for n in names))
        groups[group] = [hits, len(expected)]
    facts = {"entities": groups, "json_repaired": repaired}
    text = ", ".join(f"{g} {h}/{n}" for g, (h, n) in groups.items())
    if document is None:
        return CheckOutcome(False, f"no JSON document in the answer: {text}", facts)
    passed = all(h / n >= floor for h, n in groups.values())
    return CheckOutcome(passed, text + (" (after repairing near-JSON)" if repaired else ""), facts)


def _entity_name(item: Any) -> str:
    if isinstance(item, dict):
        item = item.get("name", "")
    return str(item).casefold()


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
ReplyCheckFn = Callable[[Reply, Any, dict[str, Any]], CheckOutcome]
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
    "entities": _entities,
    "script": script_share,
}


def _reply_checks() -> dict[str, ReplyCheckFn]:
    from pytest_mmbench.results.tool_checks import tool_call

    return {"tool_call": tool_call}


REPLY_CHECKS = ("tool_call",)  # kinds that read the tool calls as well as the text
KINDS = (*CHECKS, *REPLY_CHECKS)
MODIFIERS = ("case_sensitive", "tolerance", "lenient", "min_recall")


def validate_spec(spec: Any) -> dict[str, Any]:
    """Reject unknown kinds and bad values up front, by evaluating against a dummy answer."""
    if not isinstance(spec, dict) or not spec:
        kinds = ", ".join(KINDS)
        raise CheckSpecError(f"check must be a table with at least one of: {kinds}")
    unknown = sorted(set(spec) - set(KINDS) - set(MODIFIERS))
    if unknown:
        raise CheckSpecError(
            f"unknown check kind {unknown[0]!r}; use {', '.join(KINDS)} "
            f"(modifiers: {', '.join(MODIFIERS)})"
        )
    if not set(spec) & set(KINDS):
        raise CheckSpecError(f"check has only modifiers; add one of {', '.join(KINDS)}")
    for flag in ("case_sensitive", "lenient"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise CheckSpecError(f"check.{flag} must be true or false")
    evaluate(spec, Reply(""))
    return spec


def evaluate(spec: dict[str, Any], reply: Reply | str) -> CheckOutcome:
    """All kinds in ``spec`` must pass; the detail lists each kind's verdict and the
    facts of all kinds are merged."""
    if isinstance(reply, str):
        reply = Reply(reply)
    if reply.reasoning_used_budget:
        return CheckOutcome(False, REASONING_USED_BUDGET, {"reasoning_used_budget": True})
    reply_checks = _reply_checks() if set(spec) & set(REPLY_CHECKS) else {}
    outcomes = []
    for kind, value in spec.items():
        if kind in CHECKS:
            outcomes.append((kind, CHECKS[kind](reply.content, value, spec)))
        elif kind in reply_checks:
            outcomes.append((kind, reply_checks[kind](reply, value, spec)))
    passed = all(outcome.passed for _, outcome in outcomes)
    detail = "; ".join(
        f"{kind}: {'ok' if o.passed else 'FAIL'} ({o.detail})" for kind, o in outcomes
    )
    facts = {key: fact for _, o in outcomes for key, fact in o.facts.items()}
    return CheckOutcome(passed, detail, facts)
