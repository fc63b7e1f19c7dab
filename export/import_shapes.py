"""Non-point shapes of LabelMe and CVAT files -> one point each, at the shape's centre.

Labs often mark objects with boxes, circles or outlines; a counting model needs one point per
object, and the centre is where a person would have clicked. Shapes that do not enclose one
object (lines, polylines, masks) are skipped and counted, so the user is told what was left out.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

XY = tuple[float, float]


@dataclass
class ShapeTally:
    converted: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def note(self, source: str) -> str | None:
        """One line for stderr, or None when every shape was a point."""
        if not self.converted and not self.skipped:
            return None
        parts = []
        if self.converted:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.converted.items()))
            parts.append(f"imported {kinds} as one point each at the centre")
        if self.skipped:
            kinds = ", ".join(f"{n} {k}" for k, n in sorted(self.skipped.items()))
            parts.append(f"skipped {kinds} (not one object each)")
        return f"{source}: " + "; ".join(parts)


def polygon_centre(pts: list[XY]) -> XY:
    """The area centroid (shoelace); the vertex mean for a degenerate outline."""
    n = len(pts)
    a = cx = cy = 0.0
    for i in range(n):
        x0, y0 = pts[i]
        x1, y1 = pts[(i + 1) % n]
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-9:
        return sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
    return cx / (3 * a), cy / (3 * a)


def box_centre(x0: float, y0: float, x1: float, y1: float) -> XY:
    return (x0 + x1) / 2, (y0 + y1) / 2


# LabelMe shape_type -> how its points give the centre (None: skipped)
def labelme_centre(kind: str, pts: list[XY]) -> XY | None:
    if kind == "rectangle" and len(pts) == 2:
        return box_centre(*pts[0], *pts[1])
    if kind == "circle" and len(pts) == 2:
        return pts[0]  # LabelMe stores the centre, then a point on the circle
    if kind == "polygon" and len(pts) >= 3:
        return polygon_centre(pts)
    return None
