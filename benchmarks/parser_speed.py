"""Per-chunk cost of the one chunk parser against the two readers it replaced.

    python benchmarks/parser_speed.py [--ref 933a0d4] [--orjson-ref 8cc4028] [--chunks 200000]

Each reader gets every SSE event as one network read (``data: {...}\n\n``, as servers
flush them) and does its own framing, as its transport did: the old per-case reader
got decoded text lines (what httpx's ``iter_lines`` hands over, here a plain split,
which is cheaper than httpx's decoder), the old load reader split bytes itself, the
new parser is fed the bytes.  CPU time; the readers take turns, and each one's median
of 21 rounds counts.

The readers of the per-case path (``stream.SSEAccumulator``, json.loads on decoded
lines) and of the load path (``load.client._line``, a byte scan that parsed only
usage/timings lines) are loaded from git at ``--ref``, the last commit that had them,
so the comparison runs against the real old code, not a re-creation.  The same parser
as it was at ``--orjson-ref`` (orjson.loads into dicts, before msgspec's typed decoding)
runs too where orjson is installed, to show what the typed decoding itself gains.

Chunks:
* llama.cpp: recorded here from the embedded llama.cpp server (xllamacpp), a real
  stream of a 128-token answer, every line as it came;
* vLLM-style: vLLM's chunk layout (``id``, ``object``, ``created``, ``model``,
  ``choices[].index/delta/logprobs/finish_reason``), written from its OpenAI schema,
  since no vLLM server runs on this machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent

VLLM_LINES = [
    b'data: {"id":"chatcmpl-b3c1","object":"chat.completion.chunk","created":1795420039,'
    b'"model":"google/gemma-3-4b-it","choices":[{"index":0,"delta":{"role":"assistant",'
    b'"content":""},"logprobs":null,"finish_reason":null}]}',
    *(
        b'data: {"id":"chatcmpl-b3c1","object":"chat.completion.chunk","created":1795420039,'
        b'"model":"google/gemma-3-4b-it","choices":[{"index":0,"delta":{"content":"%s"},'
        b'"logprobs":null,"finish_reason":null}]}' % word
        for word in (b" The", b" capital", b" of", b" France", b" is", b" Paris", b".") * 18
    ),
    b'data: {"id":"chatcmpl-b3c1","object":"chat.completion.chunk","created":1795420039,'
    b'"model":"google/gemma-3-4b-it","choices":[{"index":0,"delta":{"content":""},'
    b'"logprobs":null,"finish_reason":"stop","stop_reason":null}]}',
    b'data: {"id":"chatcmpl-b3c1","object":"chat.completion.chunk","created":1795420039,'
    b'"model":"google/gemma-3-4b-it","choices":[],"usage":{"prompt_tokens":14,'
    b'"total_tokens":142,"completion_tokens":128}}',
    b"data: [DONE]",
]


def record_llama_cpp() -> list[bytes]:
    from pytest_mmbench.servers.embedded import EmbeddedServer
    from pytest_mmbench.spec.endpoints import EmbeddedSettings

    server = EmbeddedServer(EmbeddedSettings())
    url = server.start()
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "Tell me a story about a lighthouse."}],
        "max_tokens": 128,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    try:
        with httpx.stream("POST", url + "/chat/completions", json=body, timeout=120) as response:
            raw = response.read()
    finally:
        server.stop()
    return [line for line in raw.split(b"\n") if line.startswith(b"data:")]


def old_readers(ref: str) -> tuple[Any, Any]:
    """(per-case reader class, load-path line function) from git at ``ref``."""

    def source(path: str) -> str:
        return subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=REPO, check=True, capture_output=True, text=True
        ).stdout

    stream = types.ModuleType("old_stream")
    sys.modules["old_stream"] = stream  # dataclasses look their module up
    exec(source("src/pytest_mmbench/stream.py"), stream.__dict__)  # our own code, from git
    client_text = source("src/pytest_mmbench/load/client.py").replace(
        "from ..stream import classify_failure, stale_connection", ""
    )
    load = types.ModuleType("old_load_client")
    sys.modules["old_load_client"] = load
    exec(client_text, load.__dict__)  # our own code, from git
    return stream, load


def orjson_parser(ref: str) -> Any:
    """The one parser as it was at ``ref``, on ``orjson.loads`` (None without orjson)."""
    try:
        import orjson  # noqa: F401 - only to know it is there
    except ImportError:
        return None
    text = subprocess.run(
        ["git", "show", f"{ref}:src/pytest_mmbench/request/sse.py"],
        cwd=REPO,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.replace(
        "from pytest_mmbench.request.codec import loads as _loads",
        "from orjson import loads as _loads",
    )
    module = types.ModuleType("orjson_sse")
    sys.modules["orjson_sse"] = module
    exec(text, module.__dict__)  # our own code, from git
    return module


def time_per_chunk(events: list[bytes], total: int, readers: dict[str, Any]) -> dict[str, float]:
    """ns per chunk for each reader: the readers take turns, 21 rounds of ``total / 21``
    chunks each, and each reader's median counts.  Taking turns spreads the machine's
    drift (a shared host) over all of them alike."""
    repeats = max(1, total // 21 // len(events))
    samples: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(21):
        for name, run in readers.items():
            start = time.process_time_ns()
            for _ in range(repeats):
                run(events)
            samples[name].append((time.process_time_ns() - start) / (repeats * len(events)))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="933a0d4", help="git ref with the old readers")
    parser.add_argument("--orjson-ref", default="8cc4028", help="git ref of the orjson parser")
    parser.add_argument("--chunks", type=int, default=200_000)
    args = parser.parse_args()

    from pytest_mmbench.request import sse
    from pytest_mmbench.request.trace import Trace

    old_stream, old_load = old_readers(args.ref)
    orjson_sse = orjson_parser(args.orjson_ref)

    def old_case_reader(events: list[bytes]) -> None:
        accumulator = old_stream.SSEAccumulator(old_stream.RawStream(start_ns=0))
        for event in events:
            for line in event.decode("utf-8").split("\n"):
                accumulator.feed(line, 1)

    def old_load_reader(events: list[bytes]) -> None:
        record = old_load.RequestRecord(index=0, due_ns=0)
        pending = b""
        for event in events:  # the old load client's own framing, as it was
            lines = (pending + event).split(b"\n")
            pending = lines.pop()
            for line in lines:
                old_load._line(line, 1, record)

    def new_parser(events: list[bytes]) -> None:
        parser = sse.ChunkParser(Trace())
        for event in events:
            parser.feed(event, 1)

    streams = {
        name: [line + b"\n\n" for line in lines]
        for name, lines in (
            ("llama.cpp (recorded)", record_llama_cpp()),
            ("vLLM-style", VLLM_LINES),
        )
    }

    def orjson_dict_parser(events: list[bytes]) -> None:
        parser = orjson_sse.ChunkParser(Trace())
        for event in events:
            parser.feed(event, 1)

    new = "new parser (msgspec)"
    readers = {
        "old per-case reader (json.loads)": old_case_reader,
        "old load reader (byte scan)": old_load_reader,
        new: new_parser,
    }
    if orjson_sse is not None:
        readers[f"parser at {args.orjson_ref} (orjson)"] = orjson_dict_parser
    results = {
        name: time_per_chunk(events, args.chunks, readers) for name, events in streams.items()
    }

    for name, timings in results.items():
        lines = streams[name]
        print(f"\n{name}: {len(lines)} events, {sum(map(len, lines)) // len(lines)} B avg")
        for label, ns in timings.items():
            print(
                f"  {label:<34} {ns / 1000:6.2f} us/chunk   new is {ns / timings[new]:4.2f}x faster"
            )


if __name__ == "__main__":
    main()
