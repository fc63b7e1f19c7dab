"""Training folder -> arrays at the model's scale: normalised images and target density maps."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from device.measuring.preprocess import normalize, pad_to, rescale
from export.folder import TrainingFolder

MEAN = [0.5, 0.5, 0.5]
STD = [0.25, 0.25, 0.25]


@dataclass
class Prepared:
    images: list[np.ndarray]  # HxWx3 float32, normalised, padded to multiples of 16
    densities: list[np.ndarray]  # CxHxW float32 at input resolution, sums = counts
    counts: np.ndarray  # images x classes, true counts
    names: list[str]
    shapes: list[tuple[int, int]] | None = None  # each image's size before padding


def density_map(
    shape: tuple[int, int], points: np.ndarray, labels: np.ndarray, n_classes: int, sigma: float
) -> np.ndarray:
    """Points blurred by a Gaussian; reflect mode keeps objects near the border whole."""
    h, w = shape
    d = np.zeros((n_classes, h, w), np.float32)
    for (x, y), c in zip(points, labels, strict=True):
        xi = min(max(int(x), 0), w - 1)
        yi = min(max(int(y), 0), h - 1)
        d[c, yi, xi] += 1.0
    for c in range(n_classes):
        d[c] = cv2.GaussianBlur(d[c], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return d


def prepare(
    folder: TrainingFolder, classes: list[str], scales: list[float], sigma: float
) -> Prepared:
    """`scales`: one per image (photographs taken at another zoom get their own)."""
    images, dens, counts, names, shapes = [], [], [], [], []
    index = {c: i for i, c in enumerate(classes)}
    for s, sc in zip(folder.samples, scales, strict=True):
        rgb = rescale(s.image(), sc)
        h, w = rgb.shape[:2]
        pts = np.array([[x * sc, y * sc] for x, y, _ in s.points], np.float32).reshape(-1, 2)
        labs = np.array([index[lab] for _, _, lab in s.points], np.int64)
        d = density_map((h, w), pts, labs, len(classes), sigma)
        images.append(pad_to(normalize(rgb, MEAN, STD)))
        dens.append(pad_to(d.transpose(1, 2, 0), mode="constant").transpose(2, 0, 1).copy())
        counts.append(np.bincount(labs, minlength=len(classes)))
        names.append(s.name)
        shapes.append((h, w))
    counts_arr = np.array(counts, np.float64).reshape(-1, len(classes))
    return Prepared(images, dens, counts_arr, names, shapes)
