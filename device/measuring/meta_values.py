"""Values read from a model file's metadata, which may carry anything: a number within bounds
or a true/false, else ModelError naming the file and the key."""

from __future__ import annotations

import math
import re
from typing import Any

from device.core.errors import ModelError
from device.core.text import printable


def plain_number(v: Any, hi: float, lo: float = 0.0) -> float | None:
    """A JSON number within [lo, hi] as a float, else None (not bool, NaN, infinity, or an
    integer too large for a float: a file may carry anything)."""
    if not isinstance(v, int | float) or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) and lo <= f <= hi else None


# A number as written in ASCII: Python's float() also reads "1_0" as 10, spaces around it,
# and digits of other scripts, none of which `train` writes. (No nested optional digits: a
# pattern that can split a run of digits many ways takes quadratic time on a long bad one.)
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
MAX_NUMBER_CHARS = 64  # `train` writes a float's repr: never this long


def meta_number(where: str, key: str, raw: Any, lo: float, hi: float) -> float:
    try:
        if isinstance(raw, bool) or (
            isinstance(raw, str) and (len(raw) > MAX_NUMBER_CHARS or not _DECIMAL.fullmatch(raw))
        ):
            raise ValueError(raw)
        val = float(raw)
    except (TypeError, ValueError, OverflowError):
        raise bad_value(where, key, raw, "not a number") from None
    if not (lo <= val <= hi):
        raise ModelError(f"{where}: metadata {key}={val:g} is outside [{lo:g}, {hi:g}]")
    return val


def bad_value(where: str, key: str, raw: Any, what: str) -> ModelError:
    return ModelError(f"{where}: metadata {key}={printable(repr(raw), 80)} is {what}")


def meta_flag(where: str, key: str, raw: Any) -> bool:  # "false" must not read as true
    if not isinstance(raw, bool):
        raise bad_value(where, key, raw, "not true/false")
    return raw
