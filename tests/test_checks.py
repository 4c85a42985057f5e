"""Answer checks: each kind passes a correct answer and fails a wrong one."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_mmbench.results.checks import CheckSpecError, evaluate, validate_spec
from pytest_mmbench.spec.cases import CaseError, load_case_file, parse_case

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        ({"contains": "Paris"}, "The capital is paris.", "It is Lyon."),
        ({"contains": ["Paris", "París"]}, "Es París.", "Es Madrid."),
        ({"contains": "Paris", "case_sensitive": True}, "Paris.", "paris."),
        ({"contains_all": ["red", "blue"]}, "Red and BLUE", "red only"),
        ({"not_contains": ["as an ai"]}, "Paris.", "As an AI I cannot say."),
        ({"regex": [r"def\s+f\(", r"\breturn\b"]}, "def f(x):\n    return x", "def f(x): pass"),
        ({"number": 400}, "Step 1: 80 km... so the answer is 400 km", "80 + 100 = 180"),
        ({"number": 2.5, "tolerance": 0.01}, "about 2.505", "about 2.6"),
        ({"number": 1200}, "It is 1,200 metres.", "It is 120 metres."),
        ({"max_words": 5}, "one two three", "one two three four five six"),
        (
            {
                "json_schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {"name": {"type": "string"}},
                }
            },
            'Here: ```json\n{"name": "Priya"}\n```',
            '{"name": 3}',
        ),
        ({"json_schema": {"type": "array", "minItems": 2}}, 'The list: ["a", "b"] done', "no json"),
    ],
)
def test_check_passes_good_and_fails_bad(spec: dict[str, object], good: str, bad: str) -> None:
    validate_spec(spec)
    assert evaluate(spec, good).passed, evaluate(spec, good).detail
    outcome = evaluate(spec, bad)
    assert not outcome.passed
    assert "FAIL" in outcome.detail


def test_combined_check_needs_every_kind() -> None:
    spec = {"contains": "amig", "regex": r"buen[oa]s\s+d[ií]as"}
    assert evaluate(spec, "¡Buenos días, amigo mío!").passed
    outcome = evaluate(spec, "Hola, amigo.")
    assert not outcome.passed
    assert "contains: ok" in outcome.detail and "regex: FAIL" in outcome.detail


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({}, "at least one of"),
        ({"contain": "x"}, "unknown check kind 'contain'"),
        ({"case_sensitive": True}, "only modifiers"),
        ({"regex": "("}, "not a valid pattern"),
        ({"number": "400"}, "must be a number"),
        ({"json_schema": {"type": "nonsense"}}, "not a valid schema"),
        ({"contains": []}, "non-empty list"),
    ],
)
def test_bad_check_specs_are_rejected(spec: dict[str, object], problem: str) -> None:
    with pytest.raises(CheckSpecError, match=problem):
        validate_spec(spec)


# Correct and wrong answers for each shipped text case (seed 000's five tasks).
SHIPPED = {
    "basic-qa": ("The capital of France is Paris.", "The capital of France is Lyon."),
    "reasoning": (
        "The first train has a 80 km head start. The gap closes at 20 km/h, so it takes "
        "4 hours; 100 km/h x 4 h = 400 km.\n400",
        "The second train catches up after 1 hour, at 100 km.",
    ),
    "python-coding": (
        "def is_palindrome(s):\n    s = s.lower()\n    return s == s[::-1]",
        "def is_palindrome(s):\n    return s == s[::-1]",
    ),
    "multilingual": ("Buenos días, mi amigo.", "Hoy, mi amigo."),
    "summarization": (
        "The Eiffel Tower in Paris, built by Gustave Eiffel's company for the 1889 World's "
        "Fair, is now a global icon of France.",
        "It is a famous tower that many people visit every year.",
    ),
}


def test_shipped_text_cases_pass_correct_and_fail_wrong_answers() -> None:
    cases = {c.id: c for c in load_case_file(REPO / "cases" / "mm_text.toml")}
    assert set(cases) == set(SHIPPED)
    for case_id, (good, bad) in SHIPPED.items():
        check = dict(cases[case_id].check)
        assert evaluate(check, good).passed, (case_id, evaluate(check, good).detail)
        assert not evaluate(check, bad).passed, case_id


def test_case_file_errors_name_file_case_and_key(tmp_path: Path) -> None:
    path = tmp_path / "mm_bad.toml"
    path.write_text(
        '[[case]]\nid = "x"\nmodality = "text"\nprompt = "hi"\ncheck = { contians = "a" }\n',
        encoding="utf-8",
    )
    with pytest.raises(CaseError) as info:
        load_case_file(path)
    assert str(info.value).startswith(f"{path}: case 'x': key 'check'")
    assert "unknown check kind 'contians'" in str(info.value)


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"id": "x", "modality": "smell", "prompt": "p", "check": {"contains": "a"}}, "modality"),
        ({"id": "x", "modality": "text", "check": {"contains": "a"}}, "prompt"),
        (
            {
                "id": "x",
                "modality": "text",
                "prompt": "p",
                "messages": [],
                "check": {"contains": "a"},
            },
            "prompt",
        ),
        (
            {
                "id": "x",
                "modality": "text",
                "prompt": "p",
                "max_tokens": 0,
                "check": {"contains": "a"},
            },
            "max_tokens",
        ),
        (
            {"id": "x", "modality": "text", "prompt": "p", "tokens": 5, "check": {"contains": "a"}},
            "tokens",
        ),
    ],
)
def test_case_entry_errors(entry: dict[str, object], key: str) -> None:
    with pytest.raises(CaseError, match=f"key '{key}'"):
        parse_case(entry, "f.toml: case #1")
