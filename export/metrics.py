"""Counting and point-matching metrics (pure functions on plain arrays)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment


def count_metrics(true: Sequence[float], pred: Sequence[float]) -> dict[str, float | None]:
    """MAE, RMSE, bias (pred - true), mean relative error over images that hold objects (None
    when no image holds any: there is nothing to be relative to)."""
    t = np.asarray(true, np.float64)
    p = np.asarray(pred, np.float64)
    if t.shape != p.shape or t.size == 0:
        raise ValueError("true and pred must be non-empty and of equal length")
    err = p - t
    nz = t > 0
    mre = float(np.mean(np.abs(err[nz]) / t[nz])) if nz.any() else None
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "bias": float(np.mean(err)),
        "mre": mre,
        "total_true": float(t.sum()),
        "total_pred": float(p.sum()),
    }


def match_points(true: np.ndarray, pred: np.ndarray, radius: float) -> tuple[int, int, int]:
    """One-to-one matching within radius, as many pairs as possible, then the closest: (tp, fp,
    fn). Pairs farther than radius cost more than any set of valid pairs, so the assignment
    maximises the number of matches first."""
    t = np.asarray(true, np.float64).reshape(-1, 2)
    p = np.asarray(pred, np.float64).reshape(-1, 2)
    if len(t) == 0 or len(p) == 0:
        return 0, len(p), len(t)
    d = np.sqrt(((t[:, None, :] - p[None, :, :]) ** 2).sum(-1))
    far = radius * (min(len(t), len(p)) + 1) + 1.0
    rows, cols = linear_sum_assignment(np.where(d <= radius, d, far))
    tp = int((d[rows, cols] <= radius).sum())
    return tp, len(p) - tp, len(t) - tp


def prf(tp: int, fp: int, fn: int) -> dict[str, float | None]:
    """Precision, recall, F1; None where undefined (no predicted points: no precision; no true
    points: no recall), never a flattering 1.0 for a model that found nothing."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if precision is None or recall is None:
        f1 = 0.0 if (precision == 0.0 or recall == 0.0) else None
    else:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
