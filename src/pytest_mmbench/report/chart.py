"""One chart: a PNG, or the reason there is none.  matplotlib is imported only here,
and only when a chart is drawn."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any


@dataclass
class Chart:
    name: str  # file stem
    title: str
    png: bytes | None
    reason: str | None = None  # why there is no picture, or what it leaves out
    section: str = "speed"  # the HTML section that shows it: speed, quality, energy


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    import matplotlib.pyplot as plt

    return plt


def png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(figure)
    return buffer.getvalue()


def mark_missing(axes: Any, x: float, text: str = "n/a") -> None:
    """Write ``n/a`` where a bar or point would be: a missing figure is never drawn as 0."""
    axes.annotate(
        text,
        (x, 0),
        xytext=(0, 4),
        textcoords="offset points",
        ha="center",
        fontsize="small",
        color="#b00020",
        rotation=90,
    )
