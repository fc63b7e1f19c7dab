"""How well predicted areas match the masks: pure numpy, tested with plain arrays.

Labels as areas_folder.py gives them: -1 unlabelled (never scored), 0 background, k user class k.
A confusion matrix has the truth in rows and the prediction in columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def confusion(pred: np.ndarray, truth: np.ndarray, n: int) -> np.ndarray:
    """n x n pixel counts (truth row, predicted column) over the pixels where truth >= 0."""
    pred, truth = np.asarray(pred), np.asarray(truth)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction {pred.shape} and truth {truth.shape} differ in shape")
    keep = truth >= 0
    t, p = truth[keep].astype(np.int64), pred[keep].astype(np.int64)
    # A label out of range would land in another cell of the flattened matrix: refuse it.
    if t.size and (t.max() >= n or p.min() < 0 or p.max() >= n):
        raise ValueError(f"labels outside 0..{n - 1}")
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def iou_dice(conf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class IoU and Dice from a confusion matrix; nan where a class is in neither the truth
    nor the prediction (nothing to score, which is not a perfect score)."""
    conf = np.asarray(conf, np.float64)
    tp = np.diag(conf)
    fp = conf.sum(axis=0) - tp
    fn = conf.sum(axis=1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = tp / (tp + fp + fn)
        dice = 2 * tp / (2 * tp + fp + fn)
    return iou, dice


def fractions(labels: np.ndarray, n: int) -> np.ndarray:
    """Each label's share (0..n-1) of the whole frame; unlabelled pixels count in the frame."""
    labels = np.asarray(labels)
    if labels.size == 0:
        return np.full(n, np.nan)
    if (labels >= n).any():
        raise ValueError(f"labels outside -1..{n - 1}")
    counts = np.bincount(labels[labels >= 0].ravel().astype(np.int64), minlength=n)
    return counts / labels.size


@dataclass
class AreaScores:
    """Scores per user class (background is not one), keyed by class name."""

    classes: list[str]
    n_images: int
    dice: dict[str, float]  # per-image Dice, averaged over the images that hold the class
    pooled_dice: dict[str, float]  # from the confusion summed over all images
    pooled_iou: dict[str, float]
    fraction_error: dict[str, float]  # mean |predicted - true| fraction, percentage points
    fraction_errors: dict[str, list[float]]  # the same per image (nan: nothing labelled)
    baseline_error: dict[str, float]  # the same for always predicting the mean true fraction

    def to_json(self) -> dict[str, object]:
        """Plain numbers for JSON (which has no nan: None)."""

        def num(x: float) -> float | None:
            return None if math.isnan(x) else round(x, 6)

        out: dict[str, object] = {"classes": list(self.classes), "n_images": self.n_images}
        for key in ("dice", "pooled_dice", "pooled_iou", "fraction_error", "baseline_error"):
            out[key] = {c: num(v) for c, v in getattr(self, key).items()}
        out["fraction_errors"] = {c: [num(v) for v in vs] for c, vs in self.fraction_errors.items()}
        return out


def _nanmean(values: np.ndarray) -> float:
    """Mean of the finite values; nan when there are none (without numpy's warning)."""
    ok = values[~np.isnan(values)]
    return float(ok.mean()) if ok.size else math.nan


def score_images(
    preds: list[np.ndarray], truths: list[np.ndarray], classes: list[str]
) -> AreaScores:
    """Score predicted label maps against truth label maps (one pair per image)."""
    if len(preds) != len(truths):
        raise ValueError(f"{len(preds)} predictions for {len(truths)} truths")
    n = len(classes) + 1
    pooled = np.zeros((n, n), np.int64)
    dice_rows, true_fr, pred_fr = [], [], []
    for pred, truth in zip(preds, truths, strict=True):
        conf = confusion(pred, truth, n)
        pooled += conf
        dice_rows.append(iou_dice(conf)[1][1:])
        # Fractions over the labelled pixels only, both sides: with scribbled masks the frame
        # is mostly unlabelled, and its true fraction is unknown. The confusion holds exactly
        # those pixels: rows are the truth, columns the prediction.
        total = conf.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            true_fr.append(conf.sum(axis=1)[1:] / total)
            pred_fr.append(conf.sum(axis=0)[1:] / total)
    k = len(classes)
    dice_img = np.array(dice_rows, np.float64).reshape(-1, k)
    t = np.array(true_fr, np.float64).reshape(-1, k) * 100
    p = np.array(pred_fr, np.float64).reshape(-1, k) * 100
    err = np.abs(p - t)
    mean_true = np.array([_nanmean(t[:, j]) for j in range(k)])
    base = np.abs(t - mean_true)
    iou, dice = iou_dice(pooled)
    return AreaScores(
        classes=list(classes),
        n_images=len(preds),
        dice={c: _nanmean(dice_img[:, j]) for j, c in enumerate(classes)},
        pooled_dice={c: float(dice[j + 1]) for j, c in enumerate(classes)},
        pooled_iou={c: float(iou[j + 1]) for j, c in enumerate(classes)},
        fraction_error={c: _nanmean(err[:, j]) for j, c in enumerate(classes)},
        fraction_errors={c: [float(v) for v in err[:, j]] for j, c in enumerate(classes)},
        baseline_error={c: _nanmean(base[:, j]) for j, c in enumerate(classes)},
    )
