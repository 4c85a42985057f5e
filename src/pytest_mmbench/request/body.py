"""The one body builder for chat-completion requests; no timing happens here.

The body is layered so that the most specific setting wins: the request's own fields,
then the endpoint's ``extra_body`` (e.g. ``chat_template_kwargs`` to turn thinking
off), then the case's ``extra_body``, merged deeply.  Two things stay ours whatever
an ``extra_body`` says: ``stream`` is on and ``stream_options.include_usage`` is on,
because timing tokens and reading the server's counts depend on them.

Fields that *we* add for the benchmark's sake (``stream_options``, ``seed``,
``ignore_eos``, ``min_tokens``) are left out when the capability probe found that the
endpoint rejects them; the report's capabilities list them.  A case's ``seed`` is such a
field: it makes answers repeatable where the server takes it, and a server that refuses
it still runs the case.  Fields the user wrote into an ``extra_body`` are never dropped:
a server that rejects them fails the request with its message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_mmbench.merge import deep_merge
from pytest_mmbench.request.codec import dumps as _dumps
from pytest_mmbench.spec.endpoints import Endpoint

# Fields the benchmark adds on its own account, and may do without.
OPTIONAL_FIELDS = ("stream_options", "seed", "ignore_eos", "min_tokens")
LENGTH_FIELDS = ("ignore_eos", "min_tokens")


def chat_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/chat/completions"


def build_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
        **endpoint.headers,
    }
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return headers


def build_body(
    endpoint: Endpoint,
    messages: Sequence[Any],
    *,
    max_tokens: int,
    temperature: float | None = 0.0,
    seed: int | None = None,
    exact_length: bool = False,
    extra_body: Mapping[str, Any] | None = None,
    drop: frozenset[str] = frozenset(),
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: Any = None,
) -> dict[str, Any]:
    """The request body; ``exact_length`` asks for exactly ``max_tokens`` output tokens
    (``ignore_eos``: llama.cpp and vLLM; ``min_tokens``: vLLM's spelling)."""
    body: dict[str, Any] = {
        "model": endpoint.model,
        "messages": [dict(m) for m in messages],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if temperature is not None:
        body["temperature"] = temperature
    if seed is not None:
        body["seed"] = seed
    if exact_length:
        body["ignore_eos"] = True
        body["min_tokens"] = max_tokens
    if tools:
        body["tools"] = [dict(t) for t in tools]
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    for name in drop:
        body.pop(name, None)
    body = deep_merge(deep_merge(body, endpoint.extra_body), extra_body or {})
    body["stream"] = True
    if "stream_options" not in drop:
        body["stream_options"] = {**(body.get("stream_options") or {}), "include_usage": True}
    return body


WARMUP_MESSAGES = ({"role": "user", "content": "Say hello."},)


def warmup_body(endpoint: Endpoint, drop: frozenset[str] = frozenset()) -> bytes:
    """An unrecorded one-token request, built like every other one."""
    return encode(build_body(endpoint, WARMUP_MESSAGES, max_tokens=1, drop=drop))


def encode(body: Mapping[str, Any]) -> bytes:
    """Serialise once, before any clock starts."""
    encoded: bytes = _dumps(body)
    return encoded


def nonce_text(nonce: str) -> str:
    """The harmless tag that starts a prompt: ``[run-3] ``."""
    return f"[{nonce}] "


def with_nonce(messages: Sequence[Any], nonce: str) -> list[dict[str, Any]]:
    """``messages`` with ``[nonce] `` before the first text, so no two requests share a
    cached prefix: a server with prefix caching (vLLM, SGLang, llama.cpp's prompt cache)
    would otherwise serve a repeat from cache and its TTFT would time a cache hit."""
    out = [dict(m) for m in messages]
    if not out:
        return out
    first = out[0]
    content = first.get("content")
    tag = nonce_text(nonce)
    if isinstance(content, str) or content is None:
        first["content"] = tag + (content or "")
    elif isinstance(content, list):
        parts = [dict(p) for p in content]
        text = next((p for p in parts if p.get("type") == "text"), None)
        if text is not None:
            text["text"] = tag + str(text.get("text", ""))
        else:
            parts.insert(0, {"type": "text", "text": tag})
        first["content"] = parts
    return out
