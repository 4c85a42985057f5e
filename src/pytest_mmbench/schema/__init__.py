"""The report's JSON Schema, shipped in the package so any consumer can validate a report."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def report_schema() -> dict[str, Any]:
    text = files(__package__).joinpath("report.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validate_report(document: Any) -> None:
    """Raise ``jsonschema.ValidationError`` if ``document`` is not a valid report."""
    import jsonschema

    jsonschema.Draft202012Validator(
        report_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
