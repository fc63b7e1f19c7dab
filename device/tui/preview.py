"""The last image with its counted points, drawn in the terminal with half-block characters."""

from __future__ import annotations

import cv2
import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget


def half_blocks(rgb: np.ndarray, cols: int, rows: int) -> list[list[Segment]]:
    """RGB image -> rows of '▀' segments (top pixel as foreground, bottom as background)."""
    h, w = rgb.shape[:2]
    f = min(cols / w, 2 * rows / h)
    tw, th = max(1, int(w * f)), max(2, int(h * f) // 2 * 2)
    small = cv2.resize(rgb, (tw, th), interpolation=cv2.INTER_AREA)
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
