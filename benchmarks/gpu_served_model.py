"""A GPU-backed OpenAI-compatible streaming server for end-to-end telemetry runs.

The GPU host used for validation has torch and transformers but no model weights and
no network, so this serves a *random-weight* Llama with a SmolLM2 shape (135M or 1.7B)
on CUDA.  Its answers are meaningless (every check fails); it exists to put real,
request-shaped GPU work behind a real HTTP stream, so ``pytest cases --mm-endpoints=...``
records real per-request energy on that GPU.  Tokens are bytes in, ``" w<id>"`` words out; usage
counts are exact (prompt bytes, generated tokens).

Usage: python benchmarks/gpu_served_model.py --port 18181 [--shape 1.7b]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Model shapes of the SmolLM2 family (random weights): a small and a larger one, so a
# GPU run compares two endpoints that differ in speed and energy for a known reason.
SHAPES = {
    "135m": {"hidden_size": 576, "intermediate_size": 1536, "num_hidden_layers": 30,
             "num_attention_heads": 9, "num_key_value_heads": 3},
    "1.7b": {"hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 24,
             "num_attention_heads": 32, "num_key_value_heads": 32},
}  # fmt: skip


def build_model(device: str, shape: str = "135m") -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=49152,
        max_position_embeddings=8192,
        tie_word_embeddings=True,
        **SHAPES[shape],
    )
    return LlamaForCausalLM(config).to(device=device, dtype=torch.bfloat16).eval()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Each token is its own small write: with Nagle's algorithm on, every write after the
    # first waits for the client's delayed ACK (~40 ms), which capped decode near 14 tok/s
    # for any model size on an H100.
    disable_nagle_algorithm = True
    model: Any = None
    device = "cuda:0"
    lock = threading.Lock()  # one generation at a time, like a single-slot server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def generate(self, ids: list[int], max_tokens: int, emit: Any) -> None:
        """Greedy decoding with the KV cache, one request at a time; ``emit`` per token."""
        import torch

        with self.lock, torch.inference_mode():
            out = self.model(torch.tensor([ids], device=self.device), use_cache=True)
            past = out.past_key_values
            next_id = int(out.logits[0, -1].argmax())
            for _ in range(max_tokens):
                emit(next_id)
                out = self.model(
                    torch.tensor([[next_id]], device=self.device),
                    past_key_values=past,
                    use_cache=True,
                )
                past = out.past_key_values
                next_id = int(out.logits[0, -1].argmax())

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if self.path.rstrip("/") == "/tokenize":  # llama.cpp's body: tokens are bytes here
            self._json({"tokens": list(str(request.get("content", "")).encode("utf-8"))})
            return
        prompt = "\n".join(str(m.get("content", "")) for m in request.get("messages", []))
        max_tokens = int(request.get("max_tokens", 64))
        ids = list(prompt.encode("utf-8"))[-4000:] or [0]
        usage = {
            "prompt_tokens": len(ids),
            "completion_tokens": max_tokens,
            "total_tokens": len(ids) + max_tokens,
        }
        if request.get("stream") is not True:
            words: list[str] = []
            self.generate(ids, max_tokens, lambda token: words.append(f" w{token}"))
            message = {"role": "assistant", "content": "".join(words)}
            choice = {"index": 0, "message": message, "finish_reason": "length"}
            self._json({"object": "chat.completion", "choices": [choice], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()

        def send(payload: dict[str, Any]) -> None:
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        def token(next_id: int) -> None:
            delta = {"content": f" w{next_id}"}
            send({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})

        send({"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})
        self.generate(ids, max_tokens, token)
        send({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        send({"choices": [], "usage": usage})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18181)
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="135m")
    args = parser.parse_args()
    started = time.perf_counter()
    Handler.model = build_model(args.device, args.shape)
    Handler.device = args.device
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(
        f"serving random-weight Llama (SmolLM2-{args.shape} shape) on {args.device} at "
        f"http://127.0.0.1:{args.port}/v1 (loaded in {time.perf_counter() - started:.1f} s)",
        flush=True,
    )
    server.serve_forever()


if __name__ == "__main__":
    main()
