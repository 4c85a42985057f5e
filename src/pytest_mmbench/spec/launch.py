"""``launch`` in hosts.toml: the embedded server, or any server command the run manages.

``launch = { command = ["vllm", "serve", "Qwen/Qwen3.5-4B", "--port", "{port}"] }`` has
the plugin start the command on a free port it picks, wait until ``ready`` answers 200,
run the endpoint's cases and stop it.  ``{port}`` may appear in the command, in ``env``
values and in ``base_url``.  Environment values are passed to the server and never
written to the report (only their names are): a token belongs there, not in the command.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mmbench.spec.fields import Where, positive_number, show

DEFAULT_READY = "/health"  # vLLM, SGLang, llama.cpp and TGI all serve it
DEFAULT_STARTUP_TIMEOUT_S = 600.0
DEFAULT_STOP_TIMEOUT_S = 15.0
DEFAULT_BASE_URL = "http://127.0.0.1:{port}/v1"
_KEYS = ("command", "ready", "startup_timeout_s", "stop_timeout_s", "env", "cwd")


@dataclass(frozen=True)
class LaunchCommand:
    """A server the run starts, waits for, measures and stops."""

    command: tuple[str, ...]
    ready: str = DEFAULT_READY
    startup_timeout_s: float = DEFAULT_STARTUP_TIMEOUT_S
    stop_timeout_s: float = DEFAULT_STOP_TIMEOUT_S
    env: Mapping[str, str] = field(default_factory=dict, repr=False)
    cwd: str | None = None

    def argv(self, port: int) -> list[str]:
        return [part.replace("{port}", str(port)) for part in self.command]

    def environment(self, port: int) -> dict[str, str]:
        return {name: value.replace("{port}", str(port)) for name, value in self.env.items()}

    def describe(self) -> dict[str, Any]:
        return {
            "command": list(self.command),
            "ready": self.ready,
            "startup_timeout_s": self.startup_timeout_s,
            "stop_timeout_s": self.stop_timeout_s,
            "env_names": sorted(self.env),
            "cwd": self.cwd,
        }


def parse_launch(where: Where, key: str, value: Any, base: Path) -> str | LaunchCommand:
    """``"embedded"`` or a :class:`LaunchCommand`; ``base`` resolves a relative ``cwd``."""
    if value == "embedded":
        return "embedded"
    if not isinstance(value, dict):
        raise where.error(
            key,
            f'must be "embedded" or a table such as {{ command = ["vllm", "serve", "MODEL", '
            f'"--port", "{{port}}"] }}, got {show(value)}',
        )
    unknown = sorted(set(value) - set(_KEYS))
    if unknown:
        raise where.error(
            f"{key}.{unknown[0]}", f"unknown key; allowed keys are {', '.join(_KEYS)}"
        )
    command = value.get("command")
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(part, str) and part for part in command)
    ):
        raise where.error(
            f"{key}.command",
            "must be a non-empty list of strings (the program and its arguments, "
            f'"{{port}}" where the port goes), got {show(command)}',
        )
    ready = value.get("ready", DEFAULT_READY)
    if not isinstance(ready, str) or not ready.startswith("/"):
        raise where.error(f"{key}.ready", f'must be a path such as "/health", got {show(ready)}')
    env = value.get("env", {})
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise where.error(
            f"{key}.env", 'must be a table of strings, e.g. { CUDA_VISIBLE_DEVICES = "0" }'
        )
    cwd = value.get("cwd")
    if cwd is not None:
        if not isinstance(cwd, str) or not cwd:
            raise where.error(f"{key}.cwd", f"must be a directory path, got {show(cwd)}")
        folder = (base / cwd).resolve()
        if not folder.is_dir():
            raise where.error(f"{key}.cwd", f"{folder} is not a directory")
        cwd = str(folder)
    timeouts = {
        name: positive_number(where, f"{key}.{name}", value[name])
        for name in ("startup_timeout_s", "stop_timeout_s")
        if name in value
    }
    return LaunchCommand(tuple(command), ready, env=dict(env), cwd=cwd, **timeouts)
