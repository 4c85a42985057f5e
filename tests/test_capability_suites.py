"""Capability suites end to end on real llama.cpp servers: tool calling, thinking on/off.

The tool server (tests/tool_server.py) and the thinking server (tests/thinking_server.py)
are the same xllamacpp with SmolLM2-135M and a chat template each; their docstrings say
what every setting is for.  Cases here are written the way a user writes them, in TOML.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import load_report, records_by_case

pytest.importorskip("xllamacpp")

TOOL = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web.",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"],
        },
    },
}


@pytest.fixture(scope="module")
def tool_url() -> Iterator[str]:
    from tool_server import tool_server

    with tool_server() as server:
        yield server.base_url


@pytest.fixture(scope="module")
def thinking_url() -> Iterator[str]:
    from thinking_server import thinking_server

    with thinking_server() as server:
        yield server.base_url


def toml_messages(messages: list[dict[str, Any]]) -> str:
    """Messages as a TOML array of inline tables (JSON strings are valid TOML strings)."""
    tables = (
        "{ " + ", ".join(f"{key} = {json.dumps(value)}" for key, value in m.items()) + " }"
        for m in messages
    )
    return "[" + ", ".join(tables) + "]"


def _case(case_id: str, messages: list[dict[str, Any]], check: str, extra: str = "") -> str:
    return (
        f'[[case]]\nid = "{case_id}"\nmodality = "text"\ncategory = "tool_calling"\n'
        f"messages = {toml_messages(messages)}\n"
        'tools = { file = "tools.json" }\ntool_choice = "required"\nmax_tokens = 64\n'
        "extra_body = { parallel_tool_calls = false }\n"
        f"check = {check}\n{extra}"
    )


def test_structured_tool_calls_are_judged_and_scored(
    pytester: pytest.Pytester, tool_url: str
) -> None:
    """A real server's streamed ``tool_calls`` pass a right expectation and fail a
    near miss (same function, other city); the score counts the structured call."""
    (pytester.path / "hosts.toml").write_text(
        f'[endpoints.tools]\nbase_url = "{tool_url}"\nmodel = "smollm2"\n', encoding="utf-8"
    )
    (pytester.path / "tools.json").write_text(json.dumps([TOOL]), encoding="utf-8")
    ask = [
        {"role": "user", "content": "Search the web for the weather in Paris."},
        {"role": "assistant", "content": "<tool_call>\n"},  # the prefill: see tool_server.py
    ]
    (pytester.path / "mm_tools.toml").write_text(
        _case(
            "paris", ask, '{ tool_call = { name = "web_search", arguments = { query = "Paris" } } }'
        )
        + _case(
            "rome", ask, '{ tool_call = { name = "web_search", arguments = { query = "Rome" } } }'
        ),
        encoding="utf-8",
    )
    result = pytester.runpytest_inprocess(
        "--mm-endpoints=hosts.toml", "--mm-probe=off", "-m", "tools", "--mm-require=tools>=1/2"
    )
    result.assert_outcomes(passed=1, failed=1)
    document = load_report(pytester.path / "mmbench-report.json")  # schema-validated
    records = records_by_case(document)
    paris, rome = records[("tools", "paris")], records[("tools", "rome")]
    assert paris["status"] == "passed" and paris["uses_tools"]
    assert paris["check"]["facts"] == {"tool_call_format": "structured", "tool_calls": 1}
    assert rome["status"] == "failed"
    assert "does not contain 'Rome'" in rome["check"]["detail"]
    (call,) = paris["rounds"][0]["tool_calls"]
    assert call["name"] == "web_search"
    assert paris["rounds"][0]["metrics"]["ttft_ms"] is not None  # a tool-call delta is output
    tools = document["summary"]["tools"]["evals"]["tools"]
    assert tools == {"passed": 1, "total": 2, "rate": 0.5, "structured": 1, "text": 0, "no_call": 0}
    result.stdout.fnmatch_lines(
        [
            "tools tools 1/2 (structured 1, text 0)",
            "tool_calling *| 1/2 (50.0%)",
            "*PASS tools: tools>=1/2 (measured 1/2)*",
        ]
    )


THINKING_CASES = """
[[case]]
id = "multiply"
modality = "text"
messages = {messages}
max_tokens = 128
check = {{ regex = "\\\\d" }}
variants.thinking-on = {{}}
variants.thinking-off.extra_body = {{ chat_template_kwargs = {{ enable_thinking = false }} }}

[[case]]
id = "budget"
modality = "text"
messages = {messages}
max_tokens = 8
check = {{ regex = "\\\\d" }}
"""


def test_thinking_on_and_off_run_as_two_ids_with_reasoning_apart(
    pytester: pytest.Pytester, thinking_url: str
) -> None:
    """One case, two variants (thinking on / off through chat_template_kwargs), each its
    own test id; reasoning and answer tokens are reported apart, and a budget spent
    entirely on reasoning is flagged with that reason, not a plain FAIL."""
    from thinking_server import FEW_SHOT, QUESTION

    messages = [*FEW_SHOT, {"role": "user", "content": QUESTION}]
    (pytester.path / "hosts.toml").write_text(
        f'[endpoints.think]\nbase_url = "{thinking_url}"\nmodel = "smollm2"\n', encoding="utf-8"
    )
    (pytester.path / "mm_think.toml").write_text(
        THINKING_CASES.format(messages=toml_messages(messages)), encoding="utf-8"
    )
    result = pytester.runpytest_inprocess("--mm-endpoints=hosts.toml", "--mm-probe=off", "-v")
    result.stdout.fnmatch_lines(
        ["*::multiply.thinking-on?think? PASSED*", "*::multiply.thinking-off?think? PASSED*"]
    )
    records = records_by_case(load_report(pytester.path / "mmbench-report.json"))
    on = records[("think", "multiply.thinking-on")]
    off = records[("think", "multiply.thinking-off")]
    assert on["variant"] == "thinking-on" and on["variant_of"] == "multiply"
    on_m, off_m = on["rounds"][0]["metrics"], off["rounds"][0]["metrics"]
    assert on["rounds"][0]["reasoning"] and on["rounds"][0]["answer"]
    assert on_m["reasoning_tokens"] > 0 and on_m["answer_tokens"] > 0
    assert on_m["ttfo_ms"] > on_m["ttft_ms"]  # the answer starts after the reasoning
    assert off["rounds"][0]["reasoning"] == "" and off_m["reasoning_tokens"] == 0
    assert off_m["ttfo_ms"] == off_m["ttft_ms"]
    budget = records[("think", "budget")]
    assert budget["status"] == "failed" and budget["reasoning_used_budget"]
    assert budget["check"]["detail"].startswith("the whole token budget went to reasoning")
    result.stdout.fnmatch_lines(
        [
            "budget * NO ANSWER (reasoning used the budget)",
            "think: 1 case(s) spent the whole token budget on reasoning*",
        ]
    )


def test_recorded_budget_stream_is_flagged_not_a_plain_fail() -> None:
    """The recorded real stream: 8 reasoning deltas, no content, finish_reason length."""
    from pytest_mmbench.results.checks import REASONING_USED_BUDGET, Reply, evaluate
    from thinking_server import BUDGET_SSE, parse

    trace = parse(Path(BUDGET_SSE).read_bytes())
    reply = Reply(trace.content, (), trace.reasoning, trace.finish_reason)
    assert reply.reasoning_used_budget
    outcome = evaluate({"contains": "51"}, reply)
    assert not outcome.passed and outcome.detail == REASONING_USED_BUDGET
    # The same stream with an answer after the reasoning is judged normally.
    from thinking_server import ON_SSE

    answered = parse(Path(ON_SSE).read_bytes())
    assert not Reply(
        answered.content, (), answered.reasoning, answered.finish_reason
    ).reasoning_used_budget
