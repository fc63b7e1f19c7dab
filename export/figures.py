"""Figures as people read them in a command's output."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence


def fmt(v: float | None, spec: str = ".3f", scale: float = 1.0, unit: str = "") -> str:
    """A figure for people: 'n/a' where it is undefined (no points, no objects, a landmark
    never found), never nan."""
    return "n/a" if v is None or not math.isfinite(v) else f"{v * scale:{spec}}{unit}"


def zooms_asked(zooms: Sequence[float] | None) -> bool:
    """Whether `evaluate --zooms` asked for more than the taught zoom (absent: it did not)."""
    return list(zooms or [1.0]) != [1.0]


def model_warning(where: str, warning: str) -> dict[str, str | None]:
    """What a model's every result must say (demo, not learnt): on stderr now, and the JSON
    key the caller adds to its output."""
    if warning:
        print(f"scopecount: warning: {where}: {warning}", file=sys.stderr)
    return {"model_warning": warning or None}
