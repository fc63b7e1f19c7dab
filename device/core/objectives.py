"""The config's [calibration] entries: "NAME=UM_PER_PX" per objective, checked with the file's
name in every error (device/measuring/calibration.py uses them on the bench)."""

from __future__ import annotations

import math
import re

from device.core.errors import BadInput

OBJECTIVE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,39}")
UM_PER_PX_RANGE = (0.001, 10000.0)  # from an electron-microscope-like 1 nm to a 1 cm pixel


def parse_entry(entry: str, where: str) -> tuple[str, float]:
    """'20x=0.504' -> ('20x', 0.504); BadInput naming the file and entry otherwise."""
    name, sep, value = entry.partition("=")
    name = name.strip()
    if not sep or not OBJECTIVE.fullmatch(name):
        raise BadInput(
            f"{where}: [calibration] objectives: {entry[:60]!r}: expected NAME=MICROMETRES_PER_"
            "PIXEL, NAME of letters, digits, space, . _ + - (at most 40)"
        )
    try:
        um = float(value)
    except ValueError:
        um = math.nan
    lo, hi = UM_PER_PX_RANGE
    if not (math.isfinite(um) and lo <= um <= hi):
        raise BadInput(
            f"{where}: [calibration] objectives: {entry[:60]!r}: micrometres per pixel must be "
            f"a number in [{lo}, {hi}]"
        )
    return name, um


def check_calibration(objectives: list[str], objective: str, where: str) -> None:
    """The config's [calibration] (objectives, objective): BadInput naming file and key."""
    names = [parse_entry(e, where)[0] for e in objectives]
    if len(set(names)) != len(names):
        raise BadInput(f"{where}: [calibration] objectives: an objective is named twice")
    if objective and objective not in names:
        raise BadInput(
            f"{where}: [calibration] objective = {objective[:40]!r}: not among objectives "
            f"({', '.join(names) or 'none calibrated yet: scopecount calibrate'})"
        )
