"""The ``script`` check: is the answer written in the script it was asked for?

Seed 002 asked for a reply in Kannada; a model that answers in English (or in
transliterated Kannada) has not done the task, whatever the words say.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from pytest_mmbench.results.outcome import CheckOutcome, CheckSpecError


def script_share(answer: str, value: Any, spec: dict[str, Any]) -> CheckOutcome:
    """At least ``min_share`` of the answer's letters belong to one Unicode script.

    The script of a letter is the first word of its Unicode name (``KANNADA LETTER KA``),
    so any script Unicode names works without a table; vowel signs count with letters.
    """
    name, share = (value, 0.5) if isinstance(value, str) else (None, None)
    if isinstance(value, dict):
        name, share = value.get("name"), value.get("min_share", 0.5)
        if set(value) - {"name", "min_share"}:
            raise CheckSpecError("check.script takes name and min_share only")
    if not isinstance(name, str) or not name.strip():
        raise CheckSpecError('check.script must name a script: "Kannada" or { name = "Kannada" }')
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share <= 1:
        raise CheckSpecError("check.script.min_share must be a share above 0, at most 1")
    wanted = name.strip().upper()
    letters = [c for c in answer if unicodedata.category(c)[0] in "LM"]
    if not letters:
        return CheckOutcome(False, f"no letters in the answer (expected {name})")
    scripts = [unicodedata.name(c, "UNKNOWN").split()[0] for c in letters]
    measured = scripts.count(wanted) / len(scripts)
    verdict = measured >= share
    return CheckOutcome(
        verdict,
        f"{measured:.0%} of letters are {name} ({'>=' if verdict else '<'} {share:.0%})",
        {"script_share": round(measured, 4)},
    )
