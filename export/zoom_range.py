"""Where a model counts well: its error on held-back images at a range of zooms.

One rule for every model does not work: mosquito eggs shrunk to 0.7x count within 4.0% (6.7x
their error at 1x) while bone marrow at 0.7x counts 12.1% low (2.75x its error at 1x): small,
crowded cells lose what the network needs, and no recount brings it back. So `train` holds
back some images, trains a model on the rest, counts the held-back images resized to each zoom
as the bench would (with its recount), and keeps the zooms whose error stays within
max(4%, the 1x error + 3 points). The bench flags frames whose objects measure outside that
range (`zoom`). The final model is then trained on all the images.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from device.measuring.counter import Counter
from device.measuring.modelfile import FEW_ZOOM_IMAGES
from device.measuring.preprocess import rescale
from export.folder import Sample

ZOOMS = (0.5, 0.6, 0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0)
FLOOR = 0.04  # a mean relative error this small is fine at any zoom
EXTRA = 0.03  # ... or at most this much above the error at 1x
FEW_IMAGES = FEW_ZOOM_IMAGES  # fewer held-back images: the range is noisy, and `train` says so


@dataclass(frozen=True)
class ZoomRange:
    """The zooms (x the taught size) a model counts well at, and what that rests on."""

    lo: float  # frames whose objects measure below this are flagged `zoom`
    hi: float
    errors: dict[float, float]  # mean relative error of the held-back images, per zoom
    spread: dict[float, float]  # the standard error of that mean
    images: int  # held-back images it was measured on

    @property
    def noisy(self) -> bool:
        return self.images < FEW_IMAGES

    def as_json(self) -> dict:
        return {
            "lo": round(self.lo, 3),
            "hi": round(self.hi, 3),
            "images": self.images,
            "errors": {f"{z:g}": round(e, 4) for z, e in self.errors.items()},
            "spread": {f"{z:g}": round(e, 4) for z, e in self.spread.items()},
        }

    def describe(self) -> str:
        e1 = self.errors.get(1.0, math.nan) * 100
        note = f"; from {self.images} held-back images" + (", noisy" if self.noisy else "")
        return f"{self.lo:.2f}x to {self.hi:.2f}x the taught size (error at 1x {e1:.1f}%{note})"


def tolerance(error_1x: float) -> float:
    return max(FLOOR, error_1x + EXTRA)


def trusted_range(errors: Mapping[float, float]) -> tuple[float, float]:
    """The run of zooms around 1x whose error is within tolerance, as flag edges.

    An edge lies between the last zoom that passed and the first that failed (their geometric
    middle: the measure of a frame's zoom is itself a little noisy); where every zoom out to
    the end of the grid passed, the end itself (nothing beyond it was measured).
    """
    zs = sorted(errors)
    if 1.0 not in errors:
        raise ValueError("the errors must include the taught zoom, 1.0")
    tol = tolerance(errors[1.0])
    i = j = zs.index(1.0)
    while i > 0 and errors[zs[i - 1]] <= tol:
        i -= 1
    while j < len(zs) - 1 and errors[zs[j + 1]] <= tol:
        j += 1
    lo = zs[i] if i == 0 else math.sqrt(zs[i] * zs[i - 1])
    hi = zs[j] if j == len(zs) - 1 else math.sqrt(zs[j] * zs[j + 1])
    return lo, hi


def relative_errors(true: Sequence[float], pred: Sequence[float]) -> tuple[float, float]:
    """Mean |pred - true| / true over images holding objects, and its standard error."""
    t, p = np.asarray(true, float), np.asarray(pred, float)
    keep = t > 0
    if not keep.any():
        return math.nan, math.nan
    rel = np.abs(p[keep] - t[keep]) / t[keep]
    se = float(rel.std(ddof=1) / math.sqrt(len(rel))) if len(rel) > 1 else math.nan
    return float(rel.mean()), se


def measure(
    counter: Counter,
    samples: Sequence[Sample],
    zooms: Sequence[float] = ZOOMS,
    progress: Callable[[float, str], None] | None = None,
) -> ZoomRange:
    """Count every sample resized to each zoom, as the bench counts a frame (with its recount)."""
    errors, spread = {}, {}
    true = [float(s.count()) for s in samples]
    images = [s.image() for s in samples]  # read once, resized for every zoom
    for k, z in enumerate(zooms):
        pred = [float(sum(counter.count(rescale(im, z)).counts.values())) for im in images]
        errors[z], spread[z] = relative_errors(true, pred)
        if progress:
            progress((k + 1) / len(zooms), f"zoom {z:g}x")
    usable = {z: e for z, e in errors.items() if not math.isnan(e)}
    if 1.0 not in usable:
        raise ValueError("no held-back image holds an object")
    lo, hi = trusted_range(usable)
    # 3 decimals, as the model file, the report and the training record all keep them
    return ZoomRange(round(lo, 3), round(hi, 3), errors, spread, len(samples))
