"""The ``tool_call`` check: did the model call the right function with the right arguments?

Seed 002 scored tool calling twice: "structured" (the server returned ``tool_calls``)
and "any format" (the model wrote a call into its text, which a parser on the client
could still use).  So the check judges the structured calls when there are any, and
otherwise the calls written into the content (a ``<tool_call>`` tag, or a JSON object
with ``name`` and ``arguments``), and says in its facts which format passed.

Expected calls are written as tables::

    tool_call = { name = "get_weather", arguments = { city = "Paris", unit = "celsius" } }
    tool_call = [ { name = "a" }, { name = "b" } ]   # several calls, any order
    tool_call = "none"                               # the model should answer in words

``arguments`` is a subset match: a string matches an actual value that contains it
(ignoring case), a number matches within the check's ``tolerance``, tables match
recursively, and every item of a list must match some actual item.
``arguments_schema`` validates the whole arguments object with JSON Schema.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_mmbench.results.checks import Reply
from pytest_mmbench.results.outcome import CheckOutcome, CheckSpecError

_TAG = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Call:
    name: str
    arguments: Any  # the decoded arguments; None when they were not JSON
    raw_arguments: str

    def show(self) -> str:
        return f"{self.name}({self.raw_arguments[:80]})"


def tool_call(reply: Reply, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    expected = _expected_calls(value)
    tolerance = spec.get("tolerance", 0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or tolerance < 0:
        raise CheckSpecError("check.tolerance must be a number >= 0")
    structured = [_decode(c.get("name"), c.get("arguments")) for c in reply.tool_calls]
    calls, form = (structured, "structured") if structured else (text_calls(reply.content), "text")
    if not calls:
        form = "none"
    facts = {"tool_call_format": form, "tool_calls": len(calls)}
    if expected is None:
        if calls:
            shown = ", ".join(c.show() for c in calls)
            return CheckOutcome(False, f"expected no tool call, got {form} {shown}", facts)
        return CheckOutcome(True, "answered without a tool call, as expected", facts)
    if not calls:
        return CheckOutcome(False, "no tool call, structured or in the text", facts)
    problem = _assign(expected, calls, float(tolerance))
    shown = ", ".join(c.show() for c in calls)
    if problem:
        return CheckOutcome(False, f"{form} {shown}: {problem}", facts)
    return CheckOutcome(True, f"{form} {shown}", facts)


def _expected_calls(value: Any) -> list[Mapping[str, Any]] | None:
    if value == "none":
        return None
    calls = value if isinstance(value, list) else [value]
    if not calls or not all(isinstance(c, dict) for c in calls):
        raise CheckSpecError(
            'check.tool_call must be { name = "...", arguments = {...} }, a list of them, or "none"'
        )
    for call in calls:
        unknown = sorted(set(call) - {"name", "arguments", "arguments_schema"})
        if unknown:
            raise CheckSpecError(
                f"check.tool_call: unknown key {unknown[0]!r}; use name, arguments, "
                "arguments_schema"
            )
        if not isinstance(call.get("name"), str) or not call["name"]:
            raise CheckSpecError("check.tool_call: every expected call needs name = '...'")
        if "arguments" in call and not isinstance(call["arguments"], dict):
            raise CheckSpecError("check.tool_call.arguments must be a table")
        schema = call.get("arguments_schema")
        if schema is not None:
            import jsonschema

            if not isinstance(schema, dict):
                raise CheckSpecError("check.tool_call.arguments_schema must be a JSON Schema table")
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise CheckSpecError(
                    f"check.tool_call.arguments_schema is not a valid schema: {exc.message}"
                ) from None
    return calls


def _decode(name: Any, arguments: Any) -> Call:
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    try:
        decoded = json.loads(raw) if isinstance(arguments, str) else arguments
    except ValueError:
        decoded = None
    return Call(str(name or ""), decoded, raw)


def text_calls(content: str) -> list[Call]:
    """Calls a model wrote into its answer: ``<tool_call>`` tags, or JSON objects with a
    ``name`` and ``arguments`` (or ``parameters``), bare or fenced, alone or in a list."""
    chunks = _TAG.findall(content) or _FENCE.findall(content) or [content]
    calls: list[Call] = []
    for chunk in chunks:
        calls += _calls_in(_parse_loose(chunk))
    return calls


def _parse_loose(text: str) -> Any:
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        return json.JSONDecoder().raw_decode(text[start:])[0]
    except ValueError:
        pass
    try:
        import json_repair
    except ImportError:
        return None
    return json_repair.loads(text[start:])


def _calls_in(document: Any) -> list[Call]:
    if isinstance(document, list):
        return [call for item in document for call in _calls_in(item)]
    if not isinstance(document, dict):
        return []
    if isinstance(document.get("tool_calls"), list):
        return _calls_in(document["tool_calls"])
    if isinstance(document.get("function"), dict):
        return _calls_in(document["function"])
    name = document.get("name")
    if not isinstance(name, str) or not name:
        return []
    arguments = document.get("arguments", document.get("parameters", {}))
    return [_decode(name, arguments)]


def _assign(expected: Sequence[Mapping[str, Any]], calls: Sequence[Call], tol: float) -> str:
    """'' when every expected call matches a distinct actual call and none is left over;
    else the first reason, taken from the closest attempt."""
    if len(calls) != len(expected):
        names = ", ".join(e["name"] for e in expected)
        return f"expected {len(expected)} call(s) ({names}), got {len(calls)}"
    reasons: list[str] = []

    def solve(i: int, used: frozenset[int]) -> bool:
        if i == len(expected):
            return True
        for j, call in enumerate(calls):
            if j in used:
                continue
            problem = _call_problem(expected[i], call, tol)
            if problem:
                reasons.append(problem)
            elif solve(i + 1, used | {j}):
                return True
        return False

    if solve(0, frozenset()):
        return ""
    return reasons[0] if reasons else "calls do not match"


def _call_problem(expected: Mapping[str, Any], call: Call, tol: float) -> str:
    if call.name != expected["name"]:
        return f"called {call.name!r}, expected {expected['name']!r}"
    if ("arguments" in expected or "arguments_schema" in expected) and not isinstance(
        call.arguments, dict
    ):
        return f"{call.name}: arguments are not a JSON object: {call.raw_arguments[:80]!r}"
    problem = _match(expected.get("arguments") or {}, call.arguments, tol, call.name)
    if problem:
        return problem
    schema = expected.get("arguments_schema")
    if schema is not None:
        import jsonschema

        errors = sorted(
            jsonschema.Draft202012Validator(schema).iter_errors(call.arguments), key=str
        )
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
            return f"{call.name}: arguments invalid at {where}: {errors[0].message}"
    return ""


def _match(expected: Any, actual: Any, tol: float, where: str) -> str:
    """'' when ``actual`` satisfies ``expected`` (the subset rules in the module docstring)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"{where}: expected an object, got {actual!r}"
        for key, want in expected.items():
            if key not in actual:
                return f"{where}.{key}: missing"
            problem = _match(want, actual[key], tol, f"{where}.{key}")
            if problem:
                return problem
        return ""
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return f"{where}: expected a list, got {actual!r}"
        for want in expected:
            if all(_match(want, item, tol, where) for item in actual):
                return f"{where}: no item matches {want!r}"
        return ""
    if isinstance(expected, bool) or expected is None:
        return "" if actual is expected else f"{where}: {actual!r} != {expected!r}"
    if isinstance(expected, (int, float)):
        number = _number(actual)
        if number is None or abs(number - expected) > tol:
            return f"{where}: {actual!r} != {expected} (tolerance {tol:g})"
        return ""
    if isinstance(actual, str) and str(expected).casefold() in actual.casefold():
        return ""
    return f"{where}: {actual!r} does not contain {expected!r}"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None
