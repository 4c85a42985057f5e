"""Counting tokens with the server's own tokenizer, where it exposes one.

llama.cpp and vLLM both serve ``POST /tokenize`` beside ``/v1``, with different bodies;
OpenAI's API, transformers serve and most gateways have none.  Used to size load
prompts and reported by the probe.
"""

from __future__ import annotations

import httpx

from pytest_mmbench.request.transport import post_json


def server_root(base_url: str) -> str:
    """``http://host:port`` from ``http://host:port/v1`` (with or without a slash)."""
    base = base_url.rstrip("/")
    return base[: -len("/v1")] if base.endswith("/v1") else base


def count_tokens(
    http: httpx.Client, base_url: str, model: str, headers: dict[str, str], text: str
) -> int | None:
    """Tokens in ``text``, or None where the server has no tokenize endpoint."""
    for body in ({"content": text}, {"model": model, "prompt": text}):  # llama.cpp, vLLM
        response = post_json(http, server_root(base_url) + "/tokenize", body, headers)
        if response is None:
            return None
        if response.status_code == 200:
            try:
                found = response.json()
            except ValueError:
                return None
            count = found.get("count") or len(found.get("tokens") or [])
            if count:
                return int(count)
    return None
