"""Building OpenAI-compatible chat-completion requests; no timing happens here.

The body is layered so that the most specific setting wins: the case's own fields,
then the endpoint's ``extra_body`` (e.g. ``chat_template_kwargs`` to turn thinking
off), then the case's ``extra_body``.  Streaming with usage is always on: it is how
we time tokens and read the server's own token counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .endpoints import Endpoint


def chat_url(base_url: str) -> str:
    return f"{base_url.rstrip('/')}/chat/completions"


def build_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"Accept": "text/event-stream", **endpoint.headers}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return headers


def build_body(
    endpoint: Endpoint,
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int,
    temperature: float | None = 0.0,
    seed: int | None = None,
    extra_body: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
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
    _merge(body, endpoint.extra_body)
    _merge(body, extra_body or {})
    body["stream"] = True  # measurement depends on it; extra_body may not turn it off
    return body


def _merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Deep-merge tables so ``extra_body.stream_options`` adds to, not replaces, ours."""
    for key, value in extra.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged = dict(current)
            _merge(merged, value)
            target[key] = merged
        else:
            target[key] = value
