"""What the screen shows of one record, per task: the figure in large digits, a line per class
(for areas a bar per class), the history row's text and the picture over the preview."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from device.bench.events import Recorded
from device.measuring.area_overlay import draw_areas
from device.measuring.landmark_overlay import draw_landmarks
from device.measuring.overlay import draw_overlay

BAR_CELLS = 20


@dataclass(frozen=True)
class ResultView:
    main: str  # the class shown large
    big: str  # its figure, for the large digits
    unit: str  # after the class name in the heading ("" for counts)
    text: str  # every class on one line: the history row and the message
    lines: str  # under the digits: every class (areas: a bar each)
    picture: np.ndarray | None


def bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """A share of the view as a bar of block characters (eighths for the last cell)."""
    f = min(1.0, max(0.0, fraction)) * cells
    full = int(f)
    part = " ▏▎▍▌▋▊▉"[int((f - full) * 8)] if full < cells else ""
    return ("█" * full + part).ljust(cells, " ")


def _count_view(ev: Recorded, classes: list[str]) -> ResultView:
    counts = ev.counts
    main = classes[0] if classes else next(iter(counts), "")
    text = "  ".join(f"{c}: {n}" for c, n in counts.items())
    pic = None
    if ev.frame is not None:
        pic = draw_overlay(ev.frame, ev.points or [], counts, classes, ev.flags, rings=False)
    return ResultView(main, str(counts.get(main, 0)), "", text, text, pic)


def _areas_view(ev: Recorded, classes: list[str]) -> ResultView:
    areas = ev.areas
    names = [c for c in classes if c in areas] or list(areas)
    main = names[0] if names else ""
    text = "  ".join(f"{c}: {100 * areas[c]:.1f}%" for c in names)
    width = max((len(c) for c in names), default=0)
    lines = "\n".join(f"{c:<{width}} {bar(areas[c])} {100 * areas[c]:5.1f}%" for c in names)
    pic = None
    if ev.frame is not None and ev.class_map is not None:
        pic = draw_areas(ev.frame, ev.class_map, areas, classes, ev.flags, outline=False)
    return ResultView(main, f"{100 * areas.get(main, 0.0):.1f}", " % of view", text, lines, pic)


def _landmarks_view(ev: Recorded, classes: list[str]) -> ResultView:
    found = sum(p is not None for p in ev.landmarks)
    size = "-" if ev.centroid_size is None else f"{ev.centroid_size:.1f}"
    side = "  mirrored" if ev.mirrored else ""
    um = f"  ({ev.centroid_size_um:.1f} µm)" if ev.centroid_size_um else ""
    text = f"centroid size {size} px{um}  {found}/{len(ev.landmarks)} landmarks{side}"
    names = ev.landmark_names or classes
    rows = []
    for k, p in enumerate(ev.landmarks):
        name = names[k] if k < len(names) else str(k + 1)
        where = "not in frame" if p is None else f"{p[0]:7.1f} {p[1]:7.1f}"
        conf = ev.landmark_confidence[k] if k < len(ev.landmark_confidence) else 0.0
        rows.append(f"{k + 1:>2} {name[:16]:<16} {where}  {conf:.2f}")
    pic = None
    if ev.frame is not None:
        pts = [None if p is None else (p[0], p[1]) for p in ev.landmarks]
        pic = draw_landmarks(ev.frame, pts, ev.centroid_size, ev.mirrored, ev.flags)
    return ResultView("centroid size", size, " px", text, "\n".join(rows), pic)


VIEWS: dict[str, Callable[[Recorded, list[str]], ResultView]] = {
    "count": _count_view,
    "areas": _areas_view,
    "landmarks": _landmarks_view,
}


def result_view(ev: Recorded, classes: list[str]) -> ResultView:
    return VIEWS.get(ev.task, _count_view)(ev, classes)
