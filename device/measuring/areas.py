"""Pure decoding for the areas task: the network's per-class scores -> a class per frame pixel
-> each class's share of the frame. Plain arrays in and out (tested without a model)."""

from __future__ import annotations

import cv2
import numpy as np

BACKGROUND = "background"  # label 0 of every class map: whatever is none of the model's classes


def class_map(
    scores: np.ndarray, stride: int, small_hw: tuple[int, int], frame_hw: tuple[int, int]
) -> np.ndarray:
    """scores (C x h x w, one cell per `stride` pixels of the padded model input, itself the
    frame resized to `small_hw`) -> the class (0..C-1) of every pixel of the frame, uint8.

    The scores, not the classes, are interpolated to the frame: boundaries then fall between
    cells where the two classes' scores cross, not on the cells' staircase."""
    c = scores.shape[0]
    if c < 2 or c > 255 or scores.ndim != 3:
        raise ValueError(f"an areas output needs 2-255 score maps, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError("the model gave non-finite scores")
    hs, ws = small_hw
    h, w = frame_hw
    ch, cw = min(scores.shape[1], -(-hs // stride)), min(scores.shape[2], -(-ws // stride))
    cells = np.ascontiguousarray(scores[:, :ch, :cw].transpose(1, 2, 0), np.float32)
    # The cells cover ch*stride x cw*stride model pixels: a little more than the frame.
    out_h, out_w = max(h, round(ch * stride * h / hs)), max(w, round(cw * stride * w / ws))
    if c <= 4:
        up = cv2.resize(cells, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    else:  # cv2.resize takes at most 4 channels at once on some builds: a plane at a time
        up = np.stack(
            [cv2.resize(cells[:, :, i], (out_w, out_h), cv2.INTER_LINEAR) for i in range(c)], -1
        )
    up = up.reshape(out_h, out_w, c)[:h, :w]
    return np.argmax(up, axis=2).astype(np.uint8)


# A cell is "between classes" where its best class's probability beats the next one's by less
# than this; a frame with more than UNCERTAIN_ABOVE of its cells between classes is flagged
# `uncertain`. Chosen on two validation splits inside GlaS's first held-out split's training
# sections (tests/benchmarks/areas.py --inner, 28 validation sections): the limit that cut the
# mean share error most while flagging at most ~15% of them (above 0.17: 3 of 28 flagged, the
# rest 2.99 points against 4.14 for all). Held-out figures: the README, "Areas".
UNCERTAIN_MARGIN = 0.5
UNCERTAIN_ABOVE = 0.17


def uncertain_share(
    scores: np.ndarray, stride: int, small_hw: tuple[int, int], margin: float = UNCERTAIN_MARGIN
) -> float:
    """The share of the frame's cells (scores C x h x w, as for class_map) whose best two
    classes' softmax probabilities differ by less than `margin`."""
    hs, ws = small_hw
    ch, cw = min(scores.shape[1], -(-hs // stride)), min(scores.shape[2], -(-ws // stride))
    cells = scores[:, :ch, :cw].astype(np.float64)
    if cells.size == 0:
        return 0.0
    if _probabilities(cells):  # a model ending in a softmax: its output is already p
        p = np.sort(cells, axis=0)
    else:
        e = np.exp(cells - cells.max(0))
        p = np.sort(e / e.sum(0), axis=0)
    return float(((p[-1] - p[-2]) < margin).mean())


def _probabilities(cells: np.ndarray) -> bool:
    """Scores that are probabilities already (each in 0-1, summing to 1 per cell): a softmax of
    them would read every cell as between classes."""
    return bool(
        cells.min() >= 0.0 and cells.max() <= 1.0 and np.allclose(cells.sum(0), 1.0, atol=1e-3)
    )


def class_shares(cmap: np.ndarray, classes: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """Each named class's fraction of the frame (0-1, 4 decimals) and pixels; label k of the
    map is classes[k-1] (0 is background, left out of both)."""
    counts = np.bincount(cmap.ravel(), minlength=len(classes) + 1)
    total = max(1, cmap.size)
    fractions = {c: round(float(counts[k + 1]) / total, 4) for k, c in enumerate(classes)}
    pixels = {c: int(counts[k + 1]) for k, c in enumerate(classes)}
    return fractions, pixels


def mm2(pixels: dict[str, int], um_per_px: float) -> dict[str, float]:
    """Pixels -> square millimetres at a calibrated scale (micrometres per pixel)."""
    per = (um_per_px / 1000.0) ** 2
    return {c: round(n * per, 6) for c, n in pixels.items()}
