"""The capability-suite checks: a correct answer passes, a near miss fails.

tool_call (structured and text calls, several calls, none), entities (recall per group),
script, lenient JSON; and the shipped suites' own checks on hand-written answers.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_mmbench.results.checks import CheckSpecError, Reply, evaluate, validate_spec
from pytest_mmbench.spec.cases import CaseError, load_case_file, parse_case

REPO = Path(__file__).resolve().parent.parent


def call(name: str, **arguments: object) -> dict[str, str]:
    return {"name": name, "arguments": json.dumps(arguments)}


WEATHER = {"tool_call": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}}


@pytest.mark.parametrize(
    ("spec", "good", "near_miss"),
    [
        (  # structured: the right function, arguments a superset
            WEATHER,
            Reply("", [call("get_weather", city="Paris, France", unit="Celsius")]),
            Reply("", [call("get_weather", city="Lyon", unit="celsius")]),
        ),
        (  # the right arguments to the wrong function
            WEATHER,
            Reply("", [call("get_weather", city="Paris", unit="celsius")]),
            Reply("", [call("web_search", city="Paris", unit="celsius")]),
        ),
        (  # a number within tolerance
            {"tool_call": {"name": "set_temp", "arguments": {"c": 21.5}}, "tolerance": 0.5},
            Reply("", [call("set_temp", c="21.8")]),
            Reply("", [call("set_temp", c=22.5)]),
        ),
        (  # arguments judged by JSON Schema
            {
                "tool_call": {
                    "name": "remind",
                    "arguments_schema": {
                        "type": "object",
                        "properties": {"time": {"type": "string", "pattern": "^2026-05-14T09:30"}},
                        "required": ["time"],
                    },
                }
            },
            Reply("", [call("remind", time="2026-05-14T09:30:00")]),
            Reply("", [call("remind", time="2026-05-14 09:30")]),
        ),
        (  # two calls in any order; one of them missing fails
            {"tool_call": [{"name": "a"}, {"name": "b", "arguments": {"x": 1}}]},
            Reply("", [call("b", x=1), call("a")]),
            Reply("", [call("b", x=1)]),
        ),
        (  # an extra call fails
            {"tool_call": {"name": "a"}},
            Reply("", [call("a")]),
            Reply("", [call("a"), call("a")]),
        ),
        (  # no call expected
            {"tool_call": "none"},
            Reply("You're welcome!"),
            Reply(
                '<tool_call>\n{"name": "web_search", "arguments": {"query": "thanks"}}'
                "\n</tool_call>"
            ),
        ),
        (  # a text call in a <tool_call> tag, with a trailing comma (repaired)
            WEATHER,
            Reply(
                '<tool_call>\n{"name": "get_weather", '
                '"arguments": {"city": "Paris", "unit": "celsius",}}'
            ),
            Reply(
                '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
            ),
        ),
        (  # lenient JSON: near-JSON is repaired and then judged
            {"json_schema": {"type": "object", "required": ["persons"]}, "lenient": True},
            Reply("{'persons': ['Ada',], }"),
            Reply("{'people': ['Ada']}"),
        ),
        (  # entity recall per group
            {"entities": {"persons": ["Ada Lovelace", "Charles Babbage"], "places": ["London"]}},
            Reply(
                '{"persons": ["Ada Lovelace", "Mr Charles Babbage"], '
                '"places": [{"name": "London, UK"}]}'
            ),
            Reply('{"persons": ["Ada Lovelace"], "places": ["London"]}'),
        ),
        (  # a lower recall floor
            {"entities": {"persons": ["A", "B", "C", "D"]}, "min_recall": 0.75},
            Reply('{"persons": ["A", "B", "C"]}'),
            Reply('{"persons": ["A", "B"]}'),
        ),
        (  # the answer is mostly in Kannada
            {"script": {"name": "Kannada", "min_share": 0.6}},
            Reply("ನಮಸ್ಕಾರ! ನಾನು ಚೆನ್ನಾಗಿದ್ದೇನೆ. Thanks"),
            Reply("Namaskara! I am fine, ನಾನು"),
        ),
    ],
)
def test_eval_check_passes_good_and_fails_near_miss(
    spec: dict[str, object], good: Reply, near_miss: Reply
) -> None:
    validate_spec(spec)
    passed = evaluate(spec, good)
    assert passed.passed, passed.detail
    failed = evaluate(spec, near_miss)
    assert not failed.passed, failed.detail


def test_call_format_and_recall_are_facts_for_the_summary() -> None:
    structured = evaluate(WEATHER, Reply("", [call("get_weather", city="Paris", unit="celsius")]))
    assert structured.facts == {"tool_call_format": "structured", "tool_calls": 1}
    text = evaluate(
        WEATHER,
        Reply(
            '```json\n{"name": "get_weather", '
            '"parameters": {"city": "Paris", "unit": "celsius"}}\n```'
        ),
    )
    assert text.passed and text.facts["tool_call_format"] == "text"
    spec = {"entities": {"persons": ["Ada", "Bob", "Cy"]}, "lenient": True}
    repaired = evaluate(spec, Reply('{"persons": ["Ada", "Bob"'))
    assert repaired.facts == {"entities": {"persons": [2, 3]}, "json_repaired": True}
    assert "persons 2/3" in repaired.detail and "repairing" in repaired.detail
    strict = evaluate({"entities": {"persons": ["Ada"]}}, Reply('{"persons": ["Ada"'))
    assert not strict.passed and "no JSON document" in strict.detail


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"tool_call": {"nam": "x"}}, "unknown key 'nam'"),
        ({"tool_call": 3}, "tool_call must be"),
        ({"tool_call": {"name": "x", "arguments_schema": {"type": 5}}}, "not a valid schema"),
        ({"entities": {"persons": []}}, "table of lists"),
        ({"entities": {"persons": ["a"]}, "min_recall": 2}, "min_recall"),
        ({"script": {"name": "Kannada", "min_share": 0}}, "min_share"),
        ({"script": 5}, "must name a script"),
        ({"contains": "x", "lenient": "yes"}, "lenient must be true or false"),
    ],
)
def test_bad_eval_check_specs_are_rejected(spec: dict[str, object], problem: str) -> None:
    with pytest.raises(CheckSpecError, match=problem):
        validate_spec(spec)


def test_shipped_suites_load_with_markers_and_categories() -> None:
    tools = load_case_file(REPO / "cases" / "mm_tools.toml")
    assert len(tools) == 8 and all("tools" in c.marks and c.tools for c in tools)
    assert {c.category for c in tools} == {"tool_calling"}
    extraction = load_case_file(REPO / "cases" / "mm_extraction.toml")
    assert extraction and all("extraction" in c.marks for c in extraction)
    multilingual = load_case_file(REPO / "cases" / "mm_multilingual.toml")
    assert multilingual and all("multilingual" in c.marks for c in multilingual)


SHIPPED_ANSWERS = {
    "tool-web-search": Reply("", [call("web_search", query="Chandrayaan-4 launch news")]),
    "tool-weather-unit": Reply("", [call("get_weather", city="Bengaluru", unit="fahrenheit")]),
    "tool-two-calls": Reply(
        "", [call("get_weather", city="Delhi"), call("get_weather", city="Mumbai")]
    ),
    "tool-none-arithmetic": Reply("17 times 23 is 391."),
}


@pytest.mark.parametrize("case_id", sorted(SHIPPED_ANSWERS))
def test_shipped_tool_cases_pass_a_right_answer_and_fail_a_wrong_one(case_id: str) -> None:
    case = next(c for c in load_case_file(REPO / "cases" / "mm_tools.toml") if c.id == case_id)
    assert evaluate(dict(case.check), SHIPPED_ANSWERS[case_id]).passed
    assert not evaluate(
        dict(case.check), Reply("I cannot help with that.", [call("send_message")])
    ).passed


def test_case_tools_variants_and_category_are_validated(tmp_path: Path) -> None:
    base = {"id": "c", "modality": "text", "prompt": "hi", "check": {"contains": "x"}}
    with pytest.raises(CaseError, match="key 'tools'"):
        parse_case({**base, "tools": [{"function": {}}]}, "f: case #1")
    with pytest.raises(CaseError, match=r"key 'tool_choice'.*needs tools"):
        parse_case({**base, "tool_choice": "required"}, "f: case #1")
    with pytest.raises(CaseError, match=r"key 'tools'.*cannot read"):
        parse_case(
            {**base, "tools": {"file": "missing.json"}},
            "f: case #1",
            source=str(tmp_path / "x.toml"),
        )
    with pytest.raises(CaseError, match="key 'category'"):
        parse_case({**base, "category": "Object Counting"}, "f: case #1")
    with pytest.raises(CaseError, match=r"key 'variants'.*unknown key 'think'"):
        parse_case({**base, "variants": {"off": {"think": False}}}, "f: case #1")
    (tmp_path / "mm_v.toml").write_text(
        '[[case]]\nid = "c"\nmodality = "text"\nprompt = "hi"\ncheck = { contains = "x" }\n'
        "extra_body = { options = { a = 1 } }\n"
        "variants = { on = {}, off = { extra_body = { options = { b = 2 }, think = false }, "
        "max_tokens = 9 } }\n",
        encoding="utf-8",
    )
    on, off = load_case_file(tmp_path / "mm_v.toml")
    assert (on.id, off.id) == ("c.on", "c.off")
    assert off.extra_body == {"options": {"a": 1, "b": 2}, "think": False} and off.max_tokens == 9
    assert on.extra_body == {"options": {"a": 1}} and off.variant_of == "c"
