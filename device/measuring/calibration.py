"""Micrometres per pixel: what the bench knows of its scale (the config's [calibration]), and what
a record adds with it (square millimetres for areas, objects per mm² for counts).

The config holds one entry per objective, "NAME=UM_PER_PX", and the objective in use; `scopecount
calibrate` writes them (device/cli/calibrate_cmd.py). No numpy here: the config check imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from device.core.objectives import parse_entry

if TYPE_CHECKING:
    from device.measuring.result import Measurement


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
        if res.centroid_size is not None:
            out["centroid_size_um"] = round(res.centroid_size * self.um_per_px, 2)
        if res.task == "count":
            area = frame_hw[0] * frame_hw[1] * px_mm2
            out["per_mm2"] = {c: round(n / area, 3) for c, n in res.counts.items()}
        return out


def active(objectives: list[str], objective: str) -> Calibration | None:
    """The objective in use and its scale; None where the bench is not calibrated."""
    for entry in objectives:
        name, um = parse_entry(entry, "config")
        if name == objective:
            return Calibration(name, um)
    return None
