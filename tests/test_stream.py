"""Stream reading: delta timestamps, reasoning fields, and every way a request can fail."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

from pytest_mmbench.request.body import build_body, build_headers, chat_url, encode
from pytest_mmbench.request.http1 import DirectConnections
from pytest_mmbench.request.sse import ChunkParser
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.request.transport import ConnectionPool, Post, stream_sync
from pytest_mmbench.request.transport_async import open_aiohttp
from pytest_mmbench.results.metrics import compute
from pytest_mmbench.spec.endpoints import Endpoint
from support import REPO


def pool(transport: str, url: str, slots: int, timeout_s: float) -> ConnectionPool:
    """The load engine's direct transport, or its aiohttp one (proxies, URL credentials)."""
    if transport == "direct":
        return DirectConnections(url, timeout_s)
    return open_aiohttp(url, slots, timeout_s)


def run(url: str, model: str, timeout_s: float = 10.0, transport: str = "sync") -> Trace:
    """One request through the per-case transport (httpx) or one of the load engine's."""
    endpoint = Endpoint(id="fake", model=model, base_url=url)
    body = encode(build_body(endpoint, [{"role": "user", "content": "hi"}], max_tokens=8))
    headers, target = build_headers(endpoint), chat_url(url)
    if transport == "sync":
        with httpx.Client(timeout=timeout_s) as client:
            return stream_sync(client, Post(target, body, headers, timeout_s))

    async def send() -> Trace:
        connections = pool(transport, target, 1, timeout_s)
        try:
            return await connections.stream(Post(target, body, headers, timeout_s), Trace(), False)
        finally:
            await connections.close()

    return asyncio.run(send())


# Every transport must read every stream and every fault the same way.
TRANSPORTS = pytest.mark.parametrize("transport", ["sync", "direct", "aiohttp"])
LOAD_TRANSPORTS = pytest.mark.parametrize("transport", ["direct", "aiohttp"])


def test_role_only_chunk_is_not_a_token() -> None:
    raw = Trace()
    feed = ChunkParser(raw).line
    feed(b'data: {"choices":[{"delta":{"role":"assistant","content":null}}]}', 5)
    feed(b'data: {"choices":[{"delta":{"content":""}}]}', 6)
    feed(b": keep-alive comment", 7)
    assert raw.token_ns == [] and raw.role_chunk
    feed(b'data: {"choices":[{"delta":{"content":"Hi"}}]}', 9)
    assert raw.token_ns == [9] and raw.content == "Hi"


@TRANSPORTS
def test_good_stream(fault_server, transport: str) -> None:
    raw = run(fault_server.url, "fault:none", transport=transport)
    assert raw.ok, raw.error
    assert raw.content == "Paris is the capital"
    assert len(raw.token_ns) == 4
    assert raw.token_ns == sorted(raw.token_ns) and raw.token_ns[0] > raw.sent_ns
    assert raw.usage == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert raw.finish_reason == "stop" and raw.saw_done
    body = fault_server.requests[0]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@TRANSPORTS
def test_reasoning_counted_apart_under_both_field_names(fault_server, transport: str) -> None:
    raw = run(fault_server.url, "fault:reasoning", transport=transport)
    assert raw.reasoning == "thinkingmore" and raw.reasoning_deltas == 3
    assert len(raw.token_ns) == 7  # 3 reasoning deltas and 4 content deltas


@pytest.mark.parametrize(
    ("mode", "kind", "text"),
    [
        ("http500", "http", "HTTP 500: model crashed"),
        ("malformed", "protocol", "malformed SSE data"),
        ("drop", "stream", "stream ended before"),
        ("echokey", "http", "HTTP 401: invalid key"),
    ],
)
@TRANSPORTS
def test_faults_become_errors_with_messages(
    fault_server, mode: str, kind: str, text: str, transport: str
) -> None:
    raw = run(fault_server.url, f"fault:{mode}", transport=transport)
    assert not raw.ok
    assert raw.error_kind == kind
    assert text in (raw.error or "")


@TRANSPORTS
def test_connection_closed_before_any_byte_is_resent_once(fault_server, transport: str) -> None:
    raw = run(fault_server.url, "fault:hangup-once", transport=transport)
    assert raw.ok, raw.error
    assert raw.stale_connection_retries == 1 and raw.content == "Paris is the capital"
    assert len(fault_server.requests) == 2


@TRANSPORTS
def test_server_that_always_hangs_up_is_an_error_after_one_resend(
    fault_server, transport: str
) -> None:
    raw = run(fault_server.url, "fault:hangup", transport=transport)
    assert raw.error_kind == "stream" and "disconnected" in (raw.error or "")
    assert len(fault_server.requests) == 2


@LOAD_TRANSPORTS
def test_a_resend_never_takes_another_pooled_connection(fault_server, transport: str) -> None:
    """Two pooled connections that the server has silently given up (as llama.cpp does):
    a resend over the other one failed too; it must go over a new connection."""
    endpoint = Endpoint(id="fake", model="fault:keepalive-lie", base_url=fault_server.url)
    body = encode(build_body(endpoint, [{"role": "user", "content": "hi"}], max_tokens=8))
    headers, target = build_headers(endpoint), chat_url(fault_server.url)

    async def send() -> list[Trace]:
        connections = pool(transport, target, 2, 10.0)
        try:
            one = [connections.stream(Post(target, body, headers, 10.0), Trace()) for _ in "ab"]
            first = await asyncio.gather(*one)  # two connections, both left in the pool
            third = await connections.stream(Post(target, body, headers, 10.0), Trace())
            return [*first, third]
        finally:
            await connections.close()

    traces = asyncio.run(send())
    assert all(trace.ok for trace in traces), [trace.error for trace in traces]
    assert [trace.stale_connection_retries for trace in traces] == [0, 0, 1]
    assert traces[2].content == "Paris"


@TRANSPORTS
def test_stalled_stream_times_out(fault_server, transport: str) -> None:
    raw = run(fault_server.url, "fault:stall", timeout_s=0.5, transport=transport)
    assert raw.error_kind == "timeout"


@TRANSPORTS
def test_connection_refused_is_an_error(transport: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    raw = run(f"http://127.0.0.1:{port}/v1", "m", timeout_s=2, transport=transport)
    assert raw.error_kind == "connect" and "cannot connect" in (raw.error or "")


def test_request_body_layers_endpoint_and_case_extra_body() -> None:
    endpoint = Endpoint(
        id="e",
        model="m",
        base_url="http://h/v1",
        api_key="sk-abc",
        extra_body={"chat_template_kwargs": {"enable_thinking": False}, "top_k": 1},
    )
    body = build_body(
        endpoint,
        [{"role": "user", "content": "x"}],
        max_tokens=5,
        seed=7,
        extra_body={
            "top_k": 5,
            "stream": False,
            "stream_options": {"continuous_usage_stats": True},
        },
    )
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["top_k"] == 5 and body["seed"] == 7 and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}
    assert build_headers(endpoint)["Authorization"] == "Bearer sk-abc"


@TRANSPORTS
def test_a_json_answer_to_a_stream_says_what_came_back(fault_server, transport: str) -> None:
    """Before: "stream ended before the server sent finish_reason or [DONE]"."""
    raw = run(fault_server.url, "fault:jsonbody", transport=transport)
    assert raw.error_kind == "protocol"
    assert raw.error == (
        "expected an SSE stream but the server answered application/json, not "
        "text/event-stream, with: 'upstream timed out (gateway)'"
    )


@TRANSPORTS
def test_a_compressed_stream_is_read(fault_server, transport: str) -> None:
    raw = run(fault_server.url, "fault:gzip", transport=transport)
    assert raw.ok, raw.error
    assert raw.content == "Paris is the capital" and raw.saw_done
    assert raw.usage == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}


@TRANSPORTS
def test_usage_on_the_finish_chunk_without_done_is_a_clean_end(
    fault_server, transport: str
) -> None:
    raw = run(fault_server.url, "fault:nodone", transport=transport)
    assert raw.ok, raw.error
    assert not raw.saw_done and raw.usage_on_finish_chunk
    assert compute(raw).output_tokens == 4 and not compute(raw).output_tokens_estimated


def test_several_tokens_per_chunk_are_recorded(fault_server) -> None:
    """Usage counts 8 tokens for 4 deltas: ITL then measures chunks, and says so."""
    figures = compute(run(fault_server.url, "fault:multitoken"))
    assert figures.output_tokens == 8 and figures.tokens_per_chunk == 2.0


def test_bytes_split_anywhere_parse_the_same() -> None:
    stream = (
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"Par"}}]}\n\n'
        b'data: {"choices":[{"delta":{"content":"is"},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,'
        b'"prompt_tokens_details":{"cached_tokens":2}}}\n\n'
        b"data: [DONE]"
    )
    for size in (1, 7, 64, len(stream)):
        trace = Trace()
        parser = ChunkParser(trace)
        for start in range(0, len(stream), size):
            parser.feed(stream[start : start + size], start)
        parser.close(len(stream))
        assert trace.content == "Paris" and len(trace.token_ns) == 2 and trace.saw_done
        assert trace.finish_reason == "stop" and trace.cached_tokens == 2
        assert trace.usage_on_finish_chunk is False


def test_streamed_tool_calls_are_timed_and_assembled() -> None:
    trace = Trace(sent_ns=0)
    feed = ChunkParser(trace).line
    call = '{"index":0,"id":"c1","type":"function","function":{"name":"web_search","arguments":""}}'
    feed(b'data: {"choices":[{"delta":{"role":"assistant","content":null}}]}', 10)
    feed(b'data: {"choices":[{"delta":{"tool_calls":[' + call.encode() + b"]}}]}", 20)
    for at, part in ((30, '{\\"query\\": '), (40, '\\"Paris\\"}')):
        fragment = f'{{"index":0,"function":{{"arguments":"{part}"}}}}'
        feed(f'data: {{"choices":[{{"delta":{{"tool_calls":[{fragment}]}}}}]}}'.encode(), at)
    feed(b'data: {"choices":[{"delta":{},"finish_reason":"tool_calls"}]}', 50)
    assert [c.to_dict() for c in trace.tool_calls] == [
        {"index": 0, "id": "c1", "name": "web_search", "arguments": '{"query": "Paris"}'}
    ]
    trace.end_ns = 55
    figures = compute(trace)
    assert figures.ttft_ms == pytest.approx(20 / 1e6) and figures.ttfo_ms == figures.ttft_ms
    assert trace.token_ns == [20, 30, 40] and trace.content == ""


def parse_recorded(name: str) -> Trace:
    raw = (REPO / "tests" / "data" / name).read_bytes()
    trace = Trace(sent_ns=0)
    parser = ChunkParser(trace)
    for number, line in enumerate(raw.split(b"\n")):  # one arrival per line
        parser.line(line, (number + 1) * 1_000_000)
    trace.end_ns = 10**12
    return trace


def test_recorded_llama_cpp_tool_call_stream() -> None:
    """A real stream from llama.cpp (tests/tool_server.py recorded it)."""
    trace = parse_recorded("llamacpp-tool-call.sse")
    assert trace.ok and trace.finish_reason == "tool_calls" and trace.saw_done
    ((call),) = trace.tool_calls
    assert call.name == "web_search" and json.loads(call.arguments) == {"query": "Paris"}
    assert trace.content == "" and trace.tool_call_deltas == len(trace.token_ns) > 1
    figures = compute(trace)
    assert figures.ttft_ms is not None and figures.ttft_ms == figures.ttfo_ms
    assert figures.output_tokens == trace.usage["completion_tokens"]  # type: ignore[index]


def test_recorded_stream_with_two_tool_calls_keeps_their_order() -> None:
    trace = parse_recorded("llamacpp-two-tool-calls.sse")
    assert [c.index for c in trace.tool_calls] == [0, 1]
    assert [json.loads(c.arguments)["query"] for c in trace.tool_calls] == [
        "weather in Paris",
        "weather in Rome",
    ]
    assert all(c.id and c.name == "web_search" for c in trace.tool_calls)


def test_live_tool_call_is_timed_from_its_first_delta() -> None:
    """The real server, through the same transport the runner uses."""
    pytest.importorskip("xllamacpp")
    from tool_server import tool_call_body, tool_server

    with tool_server() as server, httpx.Client(timeout=120) as client:
        headers = {"Content-Type": "application/json"}
        post = Post(chat_url(server.base_url), encode(tool_call_body()), headers, 120)
        raw = stream_sync(client, post)
    assert raw.ok, raw.error
    (call,) = raw.tool_calls
    assert call.name == "web_search" and "Paris" in json.loads(call.arguments)["query"]
    figures = compute(raw)
    assert figures.ttft_ms is not None and figures.ttft_ms < figures.e2e_ms  # type: ignore[operator]
    assert raw.first_content_ns == raw.token_ns[0]


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b'data: {"choices":[null]}', "protocol"),
        (b'data: {"choices":[{"delta":"text"}]}', "protocol"),
        (b'data: {"choices":[{"delta":{"tool_calls":[{"index":0,"function":"x"}]}}]}', "protocol"),
        (b"data: [1, 2]", "protocol"),
        (b"data: 5", "protocol"),
        (b'data: {"choices":[{"delta":{"content":5}}]}', "protocol"),
        (b'data: {"choices":[],"usage":[3]}', "protocol"),
        (b'data: {"error":{"message":"overloaded"}}', "stream"),
    ],
)
def test_chunks_of_the_wrong_shape_are_errors_not_crashes(line: bytes, kind: str) -> None:
    trace = Trace()
    ChunkParser(trace).line(line, 1)
    assert trace.error_kind == kind, trace.error


def test_null_error_fields_and_empty_data_lines_are_harmless() -> None:
    trace = Trace()
    feed = ChunkParser(trace).line
    feed(b"data:", 1)
    feed(b'data: {"error":null,"choices":[{"delta":{"role":"assistant","content":"Hi"}}]}', 2)
    feed(b'data: {"usage":{"prompt_tokens":3,"completion_tokens":1}}', 3)
    assert trace.ok and trace.content == "Hi" and trace.token_ns == [2]
    assert trace.usage == {"prompt_tokens": 3, "completion_tokens": 1}
