"""Overlay pictures: a ring round every counted point in its class colour, the counts written on
the image."""

from __future__ import annotations

import cv2
import numpy as np

# Colour-blind-safe palette (Okabe-Ito), RGB.
PALETTE = [
    (230, 159, 0),
    (86, 180, 233),
    (0, 158, 115),
    (240, 228, 66),
    (0, 114, 178),
    (213, 94, 0),
    (204, 121, 167),
]


def class_colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def draw_overlay(
    rgb: np.ndarray,
    points: list[tuple[float, float, str]],
    counts: dict[str, int],
    classes: list[str],
    flags: list[str] | None = None,
    rings: bool = True,
    radius: float | None = None,
) -> np.ndarray:
    """`radius`: of the rings, in pixels (e.g. from the model's object size; at least the
    default, which follows the image size). `rings=False` draws filled dots instead: for the
    TUI's preview, shrunk to terminal cells, where a ring's open middle would be all it shows."""
    out = rgb.copy()
    h, w = out.shape[:2]
    # Rings, not dots: the eye checks what each mark sits on (an egg, a speck, handwriting), so
    # the middle is left as photographed; a dark edge keeps the ring visible on any background.
    r = max(4, round(min(h, w) / 100), round(radius or 0))
    colours = {c: class_colour(i) for i, c in enumerate(classes)}
    for x, y, c in points:
        centre = (int(round(x)), int(round(y)))
        if rings:  # a thin line, its dark edge outside it: nothing drawn inside the ring
            cv2.circle(out, centre, r + 1, (0, 0, 0), 1, cv2.LINE_AA)
            cv2.circle(out, centre, r, colours.get(c, (255, 0, 0)), 1, cv2.LINE_AA)
        else:
            cv2.circle(out, centre, r + 1, (0, 0, 0), -1, cv2.LINE_AA)
            cv2.circle(out, centre, r, colours.get(c, (255, 0, 0)), -1, cv2.LINE_AA)
    lines = [(f"{c}: {counts.get(c, 0)}", colours[c]) for c in classes]
    return draw_legend(out, lines, flags)


def draw_legend(
    out: np.ndarray, lines: list[tuple[str, tuple[int, int, int]]], flags: list[str] | None
) -> np.ndarray:
    """Lines of text in their colours, then the flags, top left on dark boxes (in place)."""
    h, w = out.shape[:2]
    font_scale = max(0.5, min(h, w) / 600)
    thick = max(1, round(font_scale * 2))
    lines = lines + [(f"! {f}", (255, 80, 80)) for f in flags or []]
    y = int(30 * font_scale) + 4
    for text, col in lines:
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thick)
        cv2.rectangle(out, (4, y - th - 6), (14 + tw, y + 6), (0, 0, 0), -1)
        cv2.putText(
            out, text, (9, y), cv2.FONT_HERSHEY_SIMPLEX, font_scale, col, thick, cv2.LINE_AA
        )
        y += th + 16
    return out
