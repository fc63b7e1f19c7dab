"""How large the network sees a folder's objects: their measured size, the input scale the
enlargement cap and the cost budget allow, and the zoom reference the bench compares frames with."""

from __future__ import annotations

import cv2
import numpy as np
import torch

from device.measuring.objsize import zoom_groups
from device.measuring.preprocess import padded_input, rescale
from device.measuring.zoom import MIN_POINTS, ZoomRef, training_ref
from export.folder import TrainingFolder
from export.net import count_macs

# Small objects are enlarged at most this much. Enlarging adds no detail, and an elongated egg
# (measured by its width) grows past what a training patch holds: mosquito eggs measure 4.8 px,
# and held-out counts were better enlarged 2.5x than 3.3x (leave-one-out MRE 2.1% against 3.1-3.8%).
MAX_UPSCALE = 2.5


def measure_sizes(folder: TrainingFolder) -> tuple[float, list[float | None]]:
    """The object size at the folder's main zoom, and per sample its own size when it was
    taken at another zoom (else None)."""
    imgs, pts, where = [], [], []
    for k, s in enumerate(folder.samples):
        if s.points:
            imgs.append(s.image())
            pts.append(np.array([[x, y] for x, y, _ in s.points], np.float64))
            where.append(k)
    size, own = zoom_groups(imgs, pts)
    per_sample: list[float | None] = [None] * len(folder.samples)
    for k, o in zip(where, own, strict=True):
        per_sample[k] = o
    return size, per_sample


def budget_scale(macs_per_pixel: float, budget_gmac: float, frame: tuple[int, int]) -> float:
    """The largest input scale at which one frame costs at most `budget_gmac`."""
    return float(np.sqrt(budget_gmac * 1e9 / (macs_per_pixel * frame[0] * frame[1])))


def fit_budget(
    net: torch.nn.Module, scale: float, budget_gmac: float, frame: tuple[int, int]
) -> float:
    """Lower the scale until the padded frame's MACs are within the budget (padding to
    multiples of 16 adds a little to what the per-pixel estimate says)."""
    while scale > 0.05 and count_macs(net, *padded_input(frame, scale)) > budget_gmac * 1e9:
        scale *= 0.995
    return scale


def input_scales(
    size: float, own: list[float | None], object_px: float, max_scale: float = MAX_UPSCALE
) -> tuple[float, float, list[float]]:
    """The frame scale, the object size the network then sees, and per image its scale:
    photographs taken at another zoom (own size given) are shown at that same object size.
    `max_scale` is the lower of the enlargement cap and the scale the cost budget allows."""
    scale = float(np.clip(object_px / size, 0.05, min(MAX_UPSCALE, max_scale)))
    shown = size * scale
    scales = [scale if o is None else float(np.clip(shown / o, 0.05, 8.0)) for o in own]
    return scale, shown, scales


def measure_object_size(folder: TrainingFolder) -> float:
    return measure_sizes(folder)[0]


def zoom_reference(folder: TrainingFolder, scales: list[float], shown_px: float) -> ZoomRef:
    """The object measure the bench compares frames with, taken on the training images as the
    network saw them (each at its own scale) at their annotated points."""
    greys, pts = [], []
    for s, sc in zip(folder.samples, scales, strict=True):
        if len(s.points) >= MIN_POINTS:
            greys.append(cv2.cvtColor(rescale(s.image(), sc), cv2.COLOR_RGB2GRAY))
            pts.append(np.array([[x * sc, y * sc] for x, y, _ in s.points], np.float64))
    return training_ref(greys, pts, shown_px)
