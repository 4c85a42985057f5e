"""Serve a bundled model with the embedded llama.cpp server, as its own process.

``python -m pytest_mmbench.serve --port 8080`` is the smallest real server a managed
endpoint can launch (``launch = { command = [...] }``): the same llama.cpp build and
GGUF files as ``launch = "embedded"``, but in a process the run starts and stops.  It
serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from pytest_mmbench.servers.embedded import EmbeddedServer, EmbeddedServerError
from pytest_mmbench.spec.endpoints import BUNDLED_MODEL_NAMES, EmbeddedSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_mmbench.serve", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", choices=sorted(BUNDLED_MODEL_NAMES), default="smollm2")
    parser.add_argument("--model-path", help="a GGUF file instead of a bundled model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ctx-size", type=int, default=2048)
    parser.add_argument("--name", default="", help="a label for the log (and for ps)")
    args = parser.parse_args(argv)
    settings = EmbeddedSettings(
        model_path=args.model_path,
        model=args.model,
        chat_template="gemma" if args.model == "gemma3-270m" and not args.model_path else None,
        threads=args.threads,
        ctx_size=args.ctx_size,
    )
    server = EmbeddedServer(settings)
    try:
        url = server.start(port=args.port)
    except EmbeddedServerError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stdout.write(f"serving {server.model_path} at {url} {args.name}".rstrip() + "\n")
    sys.stdout.flush()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    server.stop()
    sys.stdout.write("stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
