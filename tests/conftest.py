"""Shared fixtures: one real llama.cpp server for the session, and a fault-injecting fake.

The real server (SmolLM2-135M in xllamacpp) is the main path; the fake exists only to
produce failures a real server will not produce on demand (500s, malformed SSE,
streams cut in the middle, servers that stall).
"""

from __future__ import annotations

import gzip
import json
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# httpx imports httpcore lazily and caches a map of its exception classes.  pytester's
# in-process runs restore sys.modules afterwards, so a httpcore first imported inside
# one run would be imported afresh in the next and escape that cached map.  Importing
# it here, once, keeps one httpcore for the whole session.
import httpcore  # noqa: F401
import pytest

# Likewise numpy (under matplotlib) refuses to be loaded twice in one process, and the
# HTML tests load it inside pytester runs: load it here first, where it stays.
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot
except ImportError:  # the report extra is not installed: those tests skip or fail clearly
    pass

from pytest_mmbench.servers.embedded import EmbeddedServer
from pytest_mmbench.spec.endpoints import EmbeddedSettings
from real_servers import RealServer, transformers_url

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_pytest_benchmark_in_inner_runs(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-benchmark is a dev dependency; inner pytester runs leave it out unless a
    test (the bridge test) asks for it, so their output stays about our plugin.  Set
    after pytester exists, since pytester clears PYTEST_ADDOPTS when it is created."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")
        monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:benchmark")
        # Every prompt starts with a run tag (cache hygiene).  A random one changes the
        # prompt each run, and a 135M model's answer with it; a fixed one keeps the
        # real-model tests repeatable.
        monkeypatch.setenv("MM_BENCH_RUN_ID", "t3")


@pytest.fixture(scope="session")
def transformers_server(request: pytest.FixtureRequest) -> Iterator[RealServer]:
    """One ``transformers serve`` for the session (about 40 s to set up, see docs).

    The converted checkpoint goes in the pytest cache when there is one, so only the first
    run pays for the conversion (about 30 s); with ``-p no:cacheprovider`` it goes in a
    temporary directory and is redone every run.
    """
    cache = getattr(request.config, "cache", None)
    if cache is not None:
        model_cache = Path(cache.mkdir("transformers-serve"))
    else:
        model_cache = request.getfixturevalue("tmp_path_factory").mktemp("transformers-serve")
    yield from transformers_url(model_cache)


@pytest.fixture(scope="session")
def llama_url() -> Iterator[str]:
    """Base URL (``.../v1``) of a real SmolLM2 server shared by the whole test session."""
    server = EmbeddedServer(EmbeddedSettings())
    yield server.start()
    server.stop()


def _text_words(request: dict[str, object]) -> int:
    """Words in the text of a request's messages, the way a text-only server counts."""
    words = 0
    for message in request.get("messages") or []:  # type: ignore[attr-defined]
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"type": "text", "text": content}]
        words += sum(
            len(str(p.get("text") or "").split()) for p in parts if p.get("type") == "text"
        )
    return words


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    body = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _usage_chunk(usage: dict[str, object]) -> bytes:
    """Usage on its own chunk with empty choices, as llama.cpp and vLLM send it."""
    return f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n".encode()


class FaultHandler(BaseHTTPRequestHandler):
    """Behaviour is chosen by the model name in the request: ``fault:<mode>``."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _json(self, status: int, payload: object) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append({"headers": dict(self.headers), "body": request})  # type: ignore[attr-defined]
        mode = str(request.get("model", "")).removeprefix("fault:")
        if self.path.endswith("/tokenize"):  # one token per word, like a toy tokenizer
            words = len(str(request.get("content") or request.get("prompt") or "").split())
            return self._json(200, {"tokens": list(range(words))})
        if not request.get("stream"):  # the load client's usage calibration
            messages = request.get("messages") or [{}]
            words = len(str(messages[-1].get("content", "")).split())
            return self._json(
                200,
                {
                    "choices": [{"message": {"content": "ok"}}],
                    "usage": {"prompt_tokens": words + 5, "completion_tokens": 1},
                },
            )
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.streamed += 1  # type: ignore[attr-defined]
            nth = self.server.streamed  # type: ignore[attr-defined]
        if mode == "flaky" and nth % 3 == 0:
            return self._json(503, {"error": {"message": "overloaded, try later"}})
        if mode == "hangup" or (mode == "hangup-once" and self.server.streamed == 1):  # type: ignore[attr-defined]
            self.close_connection = True  # like a stale keep-alive socket: no response byte
            return
        if mode == "keepalive-lie":  # llama.cpp: keep-alive promised, then closed
            return self._one_response_per_connection()
        if mode == "strict":  # like a FastAPI server validating against a fixed schema
            unexpected = sorted(set(request) & {"ignore_eos", "min_tokens"})
            if unexpected:
                detail = f"Unexpected fields in the request: {set(unexpected)}"
                return self._json(422, {"detail": detail})
        if mode == "echokey":  # an auth error that repeats the key it was sent
            key = self.headers.get("Authorization", "")
            return self._json(401, {"error": {"message": f"invalid key: {key}"}})
        if mode == "jsonbody":  # a proxy that answers a stream with a JSON error page
            payload = b"upstream timed out (gateway)"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if mode == "gzip":  # a gateway that compresses the stream whatever was asked
            words = [_chunk({"content": w}) for w in ("Paris", " is", " the", " capital")]
            usage = {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
            stream = b"".join(words) + _chunk({}, finish="stop") + _usage_chunk(usage)
            payload = gzip.compress(stream + b"data: [DONE]\n\n")
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        if mode == "http500":
            payload = json.dumps({"error": {"message": "model crashed", "code": 500}}).encode()
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        out = self.wfile
        out.write(_chunk({"role": "assistant", "content": None}))
        if mode == "malformed":
            out.write(_chunk({"content": "Hel"}))
            out.write(b"data: {not json\n\n")
            return
        if mode == "drop":
            out.write(_chunk({"content": "Hel"}))
            out.flush()
            self.close_connection = True
            return  # no finish_reason, no [DONE]: the stream is cut short
        if mode == "stall":
            out.write(_chunk({"content": "Hel"}))
            out.flush()
            time.sleep(3)
            return
        if mode == "reasoning":
            for part in ("think", "ing"):
                out.write(_chunk({"reasoning_content": part}))
            out.write(_chunk({"reasoning": "more"}))
        for word in ("Paris", " is", " the", " capital"):
            out.write(_chunk({"content": word}))
            out.flush()
            time.sleep(0.01)
        if mode == "nodone":  # usage on the finish chunk, and no [DONE] (transformers serve)
            usage = {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
            body = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
            out.write(f"data: {json.dumps(body | {'usage': usage})}\n\n".encode())
            out.flush()
            return
        out.write(_chunk({}, finish="stop"))
        if mode == "multitoken":  # two tokens per chunk: usage counts 8 for 4 deltas
            usage = {"prompt_tokens": 7, "completion_tokens": 8, "total_tokens": 15}
            out.write(_usage_chunk(usage))
        elif mode != "nousage":
            usage = {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
            if mode == "textonly":  # counts the words of text parts, drops everything else
                usage["prompt_tokens"] = 5 + _text_words(request)
            if mode == "reasoning":
                usage = {
                    "prompt_tokens": 7,
                    "completion_tokens": 7,
                    "total_tokens": 14,
                    "completion_tokens_details": {"reasoning_tokens": 3},
                }
            out.write(_usage_chunk(usage))
        out.write(b"data: [DONE]\n\n")
        out.flush()

    def _one_response_per_connection(self) -> None:
        """Answer a connection's first request with keep-alive, and close it without an
        answer when a second request comes: until then the client sees no close, so
        the connection sits in its pool as if it were good."""
        if getattr(self, "answered", False):
            self.close_connection = True
            return
        self.answered = True
        usage = {"prompt_tokens": 7, "completion_tokens": 1, "total_tokens": 8}
        body = (
            _chunk({"content": "Paris"})
            + _chunk({}, finish="stop")
            + _usage_chunk(usage)
            + b"data: [DONE]\n\n"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FaultHandler)
        self.requests: list[dict[str, object]] = []
        self.lock = threading.Lock()
        self.streamed = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def write_hosts(pytester: pytest.Pytester):
    """Write a hosts.toml into the pytester directory from dedented TOML text."""

    def write(text: str, name: str = "hosts.toml") -> Path:
        path = pytester.path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def text_cases(pytester: pytest.Pytester) -> Path:
    """Copy the shipped text suite into the pytester directory."""
    target = pytester.path / "cases"
    target.mkdir(exist_ok=True)
    (target / "mm_text.toml").write_text(
        (REPO / "cases" / "mm_text.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    return target
