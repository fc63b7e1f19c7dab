"""Overlay pictures for the areas task: each class's pixels tinted in its colour, its outline
drawn, its share of the frame written on the image (background left as photographed)."""

from __future__ import annotations

import cv2
import numpy as np

from device.measuring.overlay import class_colour, draw_legend


def draw_areas(
    rgb: np.ndarray,
    class_map: np.ndarray,
    areas: dict[str, float],
    classes: list[str],
    flags: list[str] | None = None,
    opacity: float = 0.4,
    outline: bool = True,
) -> np.ndarray:
    """`class_map`: 0 background, k the k-th class, at the frame's size (or resized to it)."""
    h, w = rgb.shape[:2]
    if class_map.shape != (h, w):
        class_map = cv2.resize(class_map, (w, h), interpolation=cv2.INTER_NEAREST)
    lut = np.zeros((256, 3), np.float32)
    for k in range(len(classes)):
        lut[k + 1] = class_colour(k)
    tint = lut[class_map]
    painted = (class_map > 0)[..., None]
    out = np.where(painted, rgb * (1 - opacity) + tint * opacity, rgb).astype(np.uint8)
    if outline:  # the edge of each class: where a scientist checks the boundary was right
        for k in range(len(classes)):
            m = (class_map == k + 1).astype(np.uint8)
            contours, _ = cv2.findContours(m, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, class_colour(k), max(1, min(h, w) // 400))
    lines = [
        (f"{c}: {100 * areas.get(c, 0.0):.1f}%", class_colour(i)) for i, c in enumerate(classes)
    ]
    return draw_legend(out, lines, flags)
