"""Synthetic prompts of a requested length in tokens, each with a unique prefix.

The length is set by the server's own tokenizer where it exposes one (llama.cpp's and
vLLM's ``/tokenize``), plus the chat template's overhead measured once from the
server's usage count.  Without ``/tokenize`` the tokens per word are calibrated from
usage counts instead; the report says which was used.  Real lengths come back per
request from the server's usage and are what the figures use.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from pytest_mmbench.request.body import nonce_text
from pytest_mmbench.request.tokenize import count_tokens
from pytest_mmbench.request.transport import post_json

WORDS = [
    "time",
    "person",
    "year",
    "way",
    "day",
    "thing",
    "man",
    "world",
    "life",
    "hand",
    "part",
    "child",
    "eye",
    "woman",
    "place",
    "work",
    "week",
    "case",
    "point",
    "government",
    "company",
    "number",
    "group",
    "problem",
    "fact",
    "river",
    "mountain",
    "window",
    "garden",
    "music",
    "letter",
    "market",
    "forest",
    "ocean",
    "engine",
    "signal",
    "planet",
    "library",
    "station",
    "bridge",
    "harbor",
    "valley",
    "winter",
    "summer",
    "morning",
    "evening",
    "language",
    "history",
    "science",
    "picture",
    "colour",
]


@dataclass
class PromptSet:
    bodies: list[list[dict[str, Any]]]  # messages per request
    method: str  # how lengths were set: "tokenize" or "usage calibration"
    words: int

    def describe(self) -> dict[str, Any]:
        return {"input_length_method": self.method, "words_per_prompt": self.words}


def build_prompts(
    http: httpx.Client,
    base_url: str,
    model: str,
    headers: dict[str, str],
    target_tokens: int,
    count: int,
    seed: int,
    prefix_reuse: bool,
    nonce: Callable[[int], str],
    image_size: int | None = None,
    images: int = 1,
) -> PromptSet:
    rng = random.Random(seed)
    sample = " ".join(rng.choice(WORDS) for _ in range(200))
    tokens = count_tokens(http, base_url, model, headers, sample)
    method = "tokenize"
    overhead = _usage_tokens(http, base_url, model, headers, "x")
    if tokens is None:
        method = "usage calibration"
        with_sample = _usage_tokens(http, base_url, model, headers, "x " + sample)
        tokens = None if with_sample is None or overhead is None else with_sample - overhead
    if not tokens or overhead is None:
        raise RuntimeError("could not measure prompt length: no /tokenize and no usage counts")
    per_word = tokens / 200

    def text(i: int, words: int) -> str:
        prefix = nonce_text(nonce(0 if prefix_reuse else i))
        return prefix + " ".join(rng.choice(WORDS) for _ in range(words))

    words = max(1, round((target_tokens - overhead) / per_word))
    if method == "tokenize":  # one correction with the real tokenizer: the prefix has a cost
        measured = count_tokens(http, base_url, model, headers, text(count, words))
        if measured:
            words = max(1, words + round((target_tokens - overhead - measured) / per_word))
    bodies: list[list[dict[str, Any]]] = [
        [{"role": "user", "content": text(i, words)}] for i in range(count)
    ]
    if image_size:
        bodies = [
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": body[0]["content"]},
                        *(
                            {
                                "type": "image_url",
                                "image_url": {"url": image_url(image_size, seed, i, k)},
                            }
                            for k in range(images)
                        ),
                    ],
                }
            ]
            for i, body in enumerate(bodies)
        ]
    if prefix_reuse:
        bodies = [bodies[0]] * count
    return PromptSet(bodies=bodies, method=method, words=words)


def image_url(size: int, seed: int, request: int, index: int) -> str:
    """A PNG data URL of ``size`` px, different for every request and image: a
    multimodal embedding cache must not serve a repeat.  Needs Pillow (extra ``media``)."""
    import base64
    import io

    try:
        from PIL import Image, ImageDraw
    except ImportError:
        hint = "image load points need Pillow: pip install 'pytest-mmbench[media]'"
        raise RuntimeError(hint) from None
    rng = random.Random(f"{seed}-{request}-{index}")
    picture = Image.new("RGB", (size, size), (rng.randrange(256), 0, 0))
    draw = ImageDraw.Draw(picture)
    step = max(8, size // 8)
    for x in range(0, size, step):
        for y in range(0, size, step):
            colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            draw.rectangle((x, y, x + step - 1, y + step - 1), fill=colour)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _usage_tokens(
    http: httpx.Client, base_url: str, model: str, headers: dict[str, str], text: str
) -> int | None:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 1}
    response = post_json(http, base_url.rstrip("/") + "/chat/completions", body, headers)
    if response is None or response.status_code != 200:
        return None
    try:
        value = (response.json().get("usage") or {}).get("prompt_tokens")
    except (ValueError, AttributeError):
        return None
    return int(value) if isinstance(value, int) else None
