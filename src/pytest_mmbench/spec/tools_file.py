"""The ``tools`` of a case: inline OpenAI function tools, or a JSON file a suite shares.

``fail(key, problem)`` builds the case error that names the file, the case and the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def read_tools(value: Any, base: Path, fail: Any) -> tuple[Mapping[str, Any], ...]:
    """Inline OpenAI function tools, or ``{ file = "tools/x.json", only = [...] }``: one
    tools file shared by a suite, so every case offers the model the same choice."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {"file", "only"})
        if unknown or not isinstance(value.get("file"), str):
            raise fail("tools", 'a tools file is { file = "tools/x.json", only = ["name", ...] }')
        path = base / value["file"]
        try:
            value_from_file = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise fail("tools", f"cannot read {path} as a JSON list of tools: {exc}") from None
        only = value.get("only")
        tools = _tool_list(value_from_file, fail, str(path))
        if only is not None:
            names = {t["function"]["name"] for t in tools}
            if not isinstance(only, list) or not set(only) <= names:
                raise fail("tools", f"only must list tool names from {path}: {sorted(names)}")
            tools = [t for t in tools if t["function"]["name"] in only]
        return tuple(tools)
    return tuple(_tool_list(value, fail, "tools"))


def _tool_list(value: Any, fail: Any, where: str) -> list[dict[str, Any]]:
    shape = '{ type = "function", function = { name = "...", parameters = {...} } }'
    if not isinstance(value, list) or not value:
        raise fail("tools", f"{where} must be a non-empty list of {shape}")
    for tool in value:
        function = tool.get("function") if isinstance(tool, dict) else None
        if (
            not isinstance(function, dict)
            or tool.get("type", "function") != "function"
            or not isinstance(function.get("name"), str)
        ):
            raise fail("tools", f"{where}: every tool must be {shape}")
    return value
