"""Reading the project's TOML files (hosts, cases) with one set of error messages."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


class TomlFileError(Exception):
    """The file is missing, unreadable or not TOML; the message names the file."""


def read_toml(path: Path, allowed_top: set[str], hint: str) -> dict[str, Any]:
    """Parse ``path`` and reject top-level keys outside ``allowed_top``.

    ``hint`` tells the user where their entries belong (e.g. "cases go in [[case]] tables").
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TomlFileError(f"{path}: file not found; pass an existing file") from None
    except OSError as exc:
        raise TomlFileError(f"{path}: cannot read the file ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TomlFileError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - allowed_top)
    if unknown:
        raise TomlFileError(f"{path}: unknown top-level key {unknown[0]!r}; {hint}")
    return raw
