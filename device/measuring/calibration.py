"""Micrometres per pixel: what the bench knows of its scale (the config's [calibration]), and what
a record adds with it (square millimetres for areas, objects per mm² for counts).

The config holds one entry per objective, "NAME=UM_PER_PX", and the objective in use; `scopecount
calibrate` writes them (device/cli/calibrate_cmd.py). No numpy here: the config check imports it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from device.core.errors import BadInput

if TYPE_CHECKING:
    from device.config import CalibrationCfg
    from device.measuring.result import Measurement

OBJECTIVE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,39}")
UM_PER_PX_RANGE = (0.001, 10000.0)  # from an electron-microscope-like 1 nm to a 1 cm pixel


@dataclass(frozen=True)
class Calibration:
    objective: str
    um_per_px: float

    def record_fields(self, res: Measurement, frame_hw: tuple[int, int]) -> dict[str, Any]:
        """What a record of this measurement adds at this scale."""
        px_mm2 = (self.um_per_px / 1000.0) ** 2
        out: dict[str, Any] = {"objective": self.objective, "um_per_px": self.um_per_px}
        if res.pixels:
            out["mm2"] = {c: round(n * px_mm2, 6) for c, n in res.pixels.items()}
        if res.task == "count":
            area = frame_hw[0] * frame_hw[1] * px_mm2
            out["per_mm2"] = {c: round(n / area, 3) for c, n in res.counts.items()}
        return out


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


def check_calibration(cal: CalibrationCfg, where: str) -> None:
    names = [parse_entry(e, where)[0] for e in cal.objectives]
    if len(set(names)) != len(names):
        raise BadInput(f"{where}: [calibration] objectives: an objective is named twice")
    if cal.objective and cal.objective not in names:
        raise BadInput(
            f"{where}: [calibration] objective = {cal.objective[:40]!r}: not among objectives "
            f"({', '.join(names) or 'none calibrated yet: scopecount calibrate'})"
        )


def active(cal: CalibrationCfg) -> Calibration | None:
    """The objective in use and its scale; None where the bench is not calibrated."""
    for entry in cal.objectives:
        name, um = parse_entry(entry, "config")
        if name == cal.objective:
            return Calibration(name, um)
    return None
