"""Synthetic landmarks folders: three coloured dots (landmark 1 red, 2 green, 3 blue) in a
triangle turned by any angle, a little resized and jittered, on grey; landmarks.csv exact."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

TRIANGLE = np.array([[-30.0, -10.0], [25.0, -15.0], [5.0, 25.0]])


def wing_points(rng: np.random.Generator, hw: tuple[int, int], mirror: bool = False) -> np.ndarray:
    a = rng.uniform(0, 2 * math.pi)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    tri = TRIANGLE * ([-1.0, 1.0] if mirror else [1.0, 1.0])
    centre = (hw[1] / 2, hw[0] / 2)
    return tri @ rot.T * rng.uniform(0.9, 1.1) + centre + rng.normal(0, 1.0, (3, 2))


def wing_image(pts: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """RGB, the dots drawn at the rounded landmark positions."""
    img = np.full((*hw, 3), 40, np.uint8)
    for k, (x, y) in enumerate(pts):
        col = [0, 0, 0]
        col[k] = 255
        cv2.circle(img, (int(round(x)), int(round(y))), 3, tuple(col), -1)
    return img


def wing_folder(root: Path, n: int, seed: int = 0, hw: tuple[int, int] = (96, 128)) -> Path:
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    rows = ["image,landmark,x,y"]
    for i in range(n):
        pts = np.round(wing_points(rng, hw))
        img = wing_image(pts, hw)
        cv2.imwrite(str(root / "images" / f"w{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        rows += [f"w{i}.png,{k + 1},{x:.0f},{y:.0f}" for k, (x, y) in enumerate(pts)]
    (root / "landmarks.csv").write_text("\n".join(rows) + "\n")
    return root
