"""Field parsers for hosts.toml: each returns the typed value or raises a :class:`HostsError`
that names the file, the endpoint and the key."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pytest_mmbench.decide.gate import Requirement, RuleError, parse_requirements
from pytest_mmbench.modalities import MODALITIES


class HostsError(Exception):
    """A problem in a hosts file, phrased for the person who wrote it."""


class Where:
    """Builds messages that name the file, the endpoint and the key."""

    def __init__(self, path: Path, endpoint_id: str) -> None:
        self.prefix = f"{path}: endpoint {endpoint_id!r}"

    def error(self, key: str | None, problem: str) -> HostsError:
        where = f"{self.prefix}: key {key!r}" if key else self.prefix
        return HostsError(f"{where}: {problem}")


Parser = Callable[[Where, str, Any], Any]


def string(where: Where, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(key, f"must be a non-empty string, got {show(value)}")
    return value


def url(where: Where, key: str, value: Any) -> str:
    text = string(where, key, value)
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise where.error(key, f'{text!r} is not an http(s) URL; e.g. "http://gpu-host:8000/v1"')
    return text.rstrip("/")


def modalities(where: Where, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise where.error(
            key, f'must be a non-empty list such as ["text", "image"], got {show(value)}'
        )
    for item in value:
        if item not in MODALITIES:
            raise where.error(
                key, f"unknown modality {show(item)}; use any of {', '.join(MODALITIES)}"
            )
    return tuple(dict.fromkeys(value))


def env_name(where: Where, key: str, value: Any) -> str:
    text = string(where, key, value)
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text):
        raise where.error(
            key,
            'must be the NAME of an environment variable (e.g. "OPENAI_API_KEY"), '
            "never the key itself",
        )
    return text


def headers(where: Where, key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise where.error(key, f"must be a table of string values, got {show(value)}")
    return dict(value)


def table(where: Where, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise where.error(key, f"must be a table, e.g. {{ temperature = 0 }}, got {show(value)}")
    return dict(value)


def positive_number(where: Where, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise where.error(key, f"must be a positive number, got {show(value)}")
    return float(value)


def positive_int(where: Where, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise where.error(key, f"must be a positive integer, got {show(value)}")
    return value


def string_list(where: Where, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(key, f"must be a list of strings, got {show(value)}")
    return tuple(value)


def boolean(where: Where, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise where.error(key, f"must be true or false, got {show(value)}")
    return value


def show(value: Any) -> str:
    kind = type(value).__name__
    text = repr(value)
    return f"{text[:60]} ({kind})"


def video_mode(where: Where, key: str, value: Any) -> str:
    if value not in ("video_url", "frames"):
        raise where.error(
            key,
            f'must be "video_url" (one video part) or "frames" (sampled images), got {show(value)}',
        )
    return str(value)


def requirements(where: Where, key: str, value: Any) -> tuple[Requirement, ...]:
    text = string(where, key, value)
    try:
        return tuple(parse_requirements(text))
    except RuleError as exc:
        raise where.error(key, str(exc)) from None
