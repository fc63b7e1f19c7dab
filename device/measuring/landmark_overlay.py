"""Overlay pictures for the landmarks task: each landmark a ringed dot with its number, the
outline joining them in order (where a misplaced one shows at a glance), centroid size and the
side written on the image."""

from __future__ import annotations

import cv2
import numpy as np

from device.measuring.overlay import class_colour, draw_legend


def draw_landmarks(
    rgb: np.ndarray,
    landmarks: list[tuple[float, float] | list[float] | None],
    centroid_size: float | None,
    mirrored: bool | None,
    flags: list[str] | None = None,
    truth: list[tuple[float, float] | None] | None = None,
) -> np.ndarray:
    """`truth`: hand-placed landmarks (evaluate), drawn as white crosses joined to the model's."""
    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    r = max(3, min(h, w) // 120)
    thick = max(1, r // 3)
    font = max(0.4, min(h, w) / 900)
    pts = [None if p is None else (int(round(p[0])), int(round(p[1]))) for p in landmarks]
    for k, t in enumerate(truth or []):
        if t is None:
            continue
        q = (int(round(t[0])), int(round(t[1])))
        if k < len(pts) and pts[k] is not None:
            cv2.line(out, q, pts[k], (255, 60, 60), thick, cv2.LINE_AA)  # the error, in red
        cv2.drawMarker(out, q, (255, 255, 255), cv2.MARKER_CROSS, 3 * r, thick, cv2.LINE_AA)
    for a, b in zip(pts, pts[1:], strict=False):
        if a is not None and b is not None:
            cv2.line(out, a, b, (255, 255, 255), thick, cv2.LINE_AA)
    for k, p in enumerate(pts):
        if p is None:
            continue
        col = class_colour(k)
        cv2.circle(out, p, r + thick, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(out, p, r, col, -1, cv2.LINE_AA)
        org = (p[0] + r + 2, p[1] - r - 2)
        cv2.putText(out, str(k + 1), org, cv2.FONT_HERSHEY_SIMPLEX, font, (0, 0, 0), thick + 2)
        cv2.putText(out, str(k + 1), org, cv2.FONT_HERSHEY_SIMPLEX, font, col, thick)
    lines = []
    if centroid_size is not None:
        lines.append((f"centroid size {centroid_size:.1f} px", (255, 255, 255)))
    if mirrored:
        lines.append(("mirrored (other side up)", (255, 255, 255)))
    return draw_legend(out, lines, flags)
