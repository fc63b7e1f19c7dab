"""How well landmarks were placed, against hand-placed ones (pure numpy): distance per landmark
(mean and 90th percentile, pixels and % of wing length), centroid-size error, Procrustes
distance to the hand-placed shape. Wing length: the distance between the two landmarks
farthest apart on average over the hand-placed wings."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from device.measuring.shapes import centroid_size, superimpose


def wing_length(truths: list[np.ndarray]) -> tuple[float, tuple[int, int]]:
    """The mean distance between the pair of landmarks farthest apart on average, and the pair
    (landmark indices from 0)."""
    stack = np.stack(truths)  # (images, L, 2)
    d = np.linalg.norm(stack[:, :, None, :] - stack[:, None, :, :], axis=3)
    mean = np.nanmean(d, axis=0)
    i, j = np.unravel_index(int(np.nanargmax(mean)), mean.shape)
    return float(mean[i, j]), (int(min(i, j)), int(max(i, j)))


@dataclass(frozen=True)
class LandmarkScores:
    images: int
    names: list[str]
    mean_px: float  # over every landmark placed by hand and found
    per_landmark_px: list[float]
    p90_px: list[float]
    mean_pct_wing: float
    wing_length_px: float
    centroid_size_error_pct: float  # mean |measured - hand| / hand, per image
    procrustes: float  # mean distance to the hand-placed shape
    not_found: int  # landmarks placed by hand that the model left out

    def to_json(self) -> dict[str, Any]:
        """Rounded; null where nothing was measured (a landmark never found), as JSON has no NaN."""

        def plain(v: Any) -> Any:
            if isinstance(v, list):
                return [plain(x) for x in v]
            if isinstance(v, float):
                return round(v, 4) if math.isfinite(v) else None
            return v

        return {k: plain(v) for k, v in asdict(self).items()}


def score_landmarks(
    preds: list[np.ndarray], truths: list[np.ndarray], names: list[str]
) -> LandmarkScores:
    """preds and truths: (L, 2) per image, NaN where missing (absent from the frame)."""
    if not truths:
        raise ValueError("no images to score")
    dist = np.stack(
        [np.linalg.norm(p - t, axis=1) for p, t in zip(preds, truths, strict=True)]
    )  # (images, L): NaN where either is missing
    hand = np.stack([np.isfinite(t).all(axis=1) for t in truths])
    found = np.isfinite(dist)
    length, _ = wing_length(truths)
    cs_err, proc = [], []
    for p, t in zip(preds, truths, strict=True):
        both = np.isfinite(p).all(axis=1) & np.isfinite(t).all(axis=1)
        if both.sum() >= 3 and centroid_size(t[both]) > 0:  # hand-placed on one point: skipped
            ct = centroid_size(t[both])
            cs_err.append(abs(centroid_size(p[both]) - ct) / ct * 100)
            try:
                proc.append(superimpose(p, t).distance)
            except ValueError:  # the model's landmarks on one point: as far as shapes go
                proc.append(1.0)
    mean = float(np.nanmean(dist)) if found.any() else float("nan")
    per = [float(np.nanmean(c)) if np.isfinite(c).any() else float("nan") for c in dist.T]
    p90 = [float(np.nanpercentile(c, 90)) if np.isfinite(c).any() else float("nan") for c in dist.T]
    return LandmarkScores(
        images=len(truths),
        names=list(names),
        mean_px=mean,
        per_landmark_px=per,
        p90_px=p90,
        mean_pct_wing=mean / length * 100 if length > 0 else float("nan"),
        wing_length_px=length,
        centroid_size_error_pct=float(np.mean(cs_err)) if cs_err else float("nan"),
        procrustes=float(np.mean(proc)) if proc else float("nan"),
        not_found=int((hand & ~found).sum()),
    )
