"""A synthetic streaming chat server: no model, only the wire format, as fast as it goes.

``python -m pytest_mmbench.servers.synthetic --host 0.0.0.0 --port 8000 --delay-ms 2``

It answers ``POST .../chat/completions`` with ``max_tokens`` content chunks
(``--tokens`` where the body gives none), ``--delay-ms`` apart, the first after
``--prefill-ms``, then a finish chunk, a usage chunk and ``[DONE]``; ``stream: false``
gets one JSON answer with usage.  It is what the client's own limits are measured
against (benchmarks/load_client.py), and the server of the multi-host tests, where a
model would only add noise.  ``GET /health`` answers 200; every other path 404, so
there is no ``/tokenize`` and prompts are sized from usage counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Sequence

CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":" tok"},"finish_reason":null}]}\n\n'
MAX_TOKENS = 100_000


def _tail(prompt_tokens: int, tokens: int) -> bytes:
    return (
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":%d,"completion_tokens":%d,'
        b'"total_tokens":%d}}\n\ndata: [DONE]\n\n'
    ) % (prompt_tokens, tokens, prompt_tokens + tokens)


def _prompt_tokens(body: dict[str, object]) -> int:
    """Words of the text parts, as a stand-in tokenizer (stable, so sizing converges)."""
    words = 0
    for message in body.get("messages") or []:  # type: ignore[attr-defined]
        content = message.get("content") if isinstance(message, dict) else None
        parts = content if isinstance(content, list) else [{"text": content}]
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else None
            words += len(text.split()) if isinstance(text, str) else 0
    return words + 4  # a chat template's few tokens per request


class SyntheticServer:
    def __init__(self, tokens: int = 64, delay_ms: float = 0.0, prefill_ms: float = 0.0) -> None:
        self.tokens, self.delay_s, self.prefill_s = tokens, delay_ms / 1000, prefill_ms / 1000

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                raw = await reader.readexactly(length) if length else b""
                path = head.split(b" ", 2)[1]
                if path.endswith(b"/chat/completions"):
                    await self._chat(writer, json.loads(raw or b"{}"))
                elif path == b"/health":
                    self._json(writer, 200, b'{"status":"ok"}')
                else:
                    self._json(writer, 404, b'{"error":"not found"}')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            writer.close()

    @staticmethod
    def _json(writer: asyncio.StreamWriter, status: int, payload: bytes) -> None:
        reason = b"OK" if status == 200 else b"Not Found"
        writer.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (status, reason, len(payload), payload)
        )

    async def _chat(self, writer: asyncio.StreamWriter, body: dict[str, object]) -> None:
        asked = body.get("max_tokens") or body.get("max_completion_tokens") or self.tokens
        tokens = max(1, min(int(asked), MAX_TOKENS))  # type: ignore[call-overload]
        prompt = _prompt_tokens(body)
        if not body.get("stream"):
            answer = {
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": " tok" * tokens},
                        "finish_reason": "length",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": tokens,
                    "total_tokens": prompt + tokens,
                },
            }
            self._json(writer, 200, json.dumps(answer).encode())
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        framed = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
        if self.prefill_s:
            await writer.drain()
            await asyncio.sleep(self.prefill_s)
        for _ in range(tokens):
            writer.write(framed)
            await writer.drain()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
        tail = _tail(prompt, tokens)
        writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))


async def serve(host: str, port: int, tokens: int, delay_ms: float, prefill_ms: float) -> None:
    server = SyntheticServer(tokens, delay_ms, prefill_ms)
    listener = await asyncio.start_server(server.handle, host, port, backlog=1024)
    bound = listener.sockets[0].getsockname()
    sys.stdout.write(f"http://{bound[0]}:{bound[1]}/v1\n")
    sys.stdout.flush()
    await listener.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_mmbench.servers.synthetic", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: a free port (printed)")
    parser.add_argument("--tokens", type=int, default=64, help="chunks when max_tokens is absent")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="pause after each chunk")
    parser.add_argument(
        "--prefill-ms", type=float, default=0.0, help="pause before the first chunk (a prefill)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.tokens, args.delay_ms, args.prefill_ms))


if __name__ == "__main__":
    main()
