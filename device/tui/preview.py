"""The last image with its counted points, drawn in the terminal with half-block characters."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget


def area_shrink(rgb: np.ndarray, tw: int, th: int) -> np.ndarray:
    """Each output pixel the rounded mean of the source pixels its cell covers (whole pixels).

    Plain integer numpy, not an image library's resize: the preview (and the TUI's snapshots)
    must not change colour when a library release changes its interpolation.
    """
    h, w = rgb.shape[:2]
    ys = (np.arange(th) * h) // th
    xs = (np.arange(tw) * w) // tw
    wide = np.add.reduceat(rgb.astype(np.int64), ys, axis=0)
    sums = np.add.reduceat(wide, xs, axis=1)
    rows = np.diff(np.append(ys, h))[:, None, None]
    cols = np.diff(np.append(xs, w))[None, :, None]
    area = rows * cols
    return ((2 * sums + area) // (2 * area)).astype(np.uint8)


def half_blocks(rgb: np.ndarray, cols: int, rows: int) -> list[list[Segment]]:
    """RGB image -> rows of '▀' segments (top pixel as foreground, bottom as background)."""
    h, w = rgb.shape[:2]
    f = min(cols / w, 2 * rows / h)
    tw, th = max(1, int(w * f)), max(2, int(h * f) // 2 * 2)
    small = area_shrink(rgb, min(tw, w), min(th, h))
    tw, th = small.shape[1], small.shape[0] // 2 * 2
    lines = []
    for y in range(0, th, 2):
        segs = []
        for x in range(tw):
            t = small[y, x]
            b = small[y + 1, x]
            style = Style.parse(f"rgb({t[0]},{t[1]},{t[2]}) on rgb({b[0]},{b[1]},{b[2]})")
            segs.append(Segment("▀", style))
        lines.append(segs)
    return lines


class Preview(Widget):
    DEFAULT_CSS = "Preview { height: 1fr; min-height: 6; }"

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.image: np.ndarray | None = None
        self._cache: tuple[tuple[int, int], list[list[Segment]]] | None = None

    def show(self, rgb: np.ndarray) -> None:
        self.image = rgb
        self._cache = None
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if self.image is None:
            return (
                Strip([Segment(" " * self.size.width)])
                if y
                else Strip([Segment("(no image yet: press space)".ljust(self.size.width))])
            )
        size = (self.size.width, self.size.height)
        if self._cache is None or self._cache[0] != size:
            self._cache = (size, half_blocks(self.image, *size))
        lines = self._cache[1]
        return Strip(lines[y]) if y < len(lines) else Strip([Segment(" " * self.size.width)])
