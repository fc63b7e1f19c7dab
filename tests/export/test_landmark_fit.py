"""The landmarks training views and targets, with plain arrays: a turned, mirrored, resized view
moves the landmarks exactly as it moves the pixels, and each target peaks where its landmark is."""

from __future__ import annotations

import numpy as np
import pytest

from device.measuring.landmarks import from_cells, peaks
from export.landmark_fit import (
    LandmarkData,
    LandmarkFitConfig,
    WingViews,
    heat_targets,
    view_matrix,
)


def dot_image(hw, dots):
    img = np.zeros((*hw, 3), np.float32)
    for k, (x, y) in enumerate(dots):
        img[y - 1 : y + 2, x - 1 : x + 2, k] = 1.0
    return img


@pytest.mark.parametrize(
    ("angle", "mirror", "zoom"), [(0, False, 1), (37, True, 1.1), (250, False, 0.9)]
)
def test_a_view_moves_landmarks_with_the_pixels(angle, mirror, zoom):
    import cv2

    dots = [(20, 30), (70, 12), (50, 60)]
    img = dot_image((80, 96), dots)
    m = view_matrix((80, 96), 128, angle, mirror, zoom, (5.0, -3.0))
    out = cv2.warpAffine(img, m, (128, 128), flags=cv2.INTER_LINEAR)
    moved = np.array(dots, float) @ m[:, :2].T + m[:, 2]
    for k, (x, y) in enumerate(moved):
        ys, xs = np.nonzero(out[:, :, k] > 0.05)
        w = out[ys, xs, k]
        assert (xs * w).sum() / w.sum() == pytest.approx(x, abs=0.3)
        assert (ys * w).sum() / w.sum() == pytest.approx(y, abs=0.3)


def test_targets_peak_at_the_landmarks_and_skip_missing_or_off_canvas():
    pts = np.array([[41.0, 17.5], [np.nan, np.nan], [500.0, 3.0]])
    heat, present = heat_targets(pts, 32, 1.0)
    assert present.tolist() == [1.0, 0.0, 0.0] and heat[1:].max() == 0
    uv, height = peaks(heat[:1])
    assert from_cells(uv, 1.0, 4)[0] == pytest.approx((41.0, 17.5), abs=0.05)
    assert height[0] == pytest.approx(1.0, abs=0.05)


def test_views_are_the_same_for_the_same_seed():
    data = LandmarkData(
        [dot_image((80, 96), [(20, 30), (70, 12), (50, 60)])],
        [np.array([[20.0, 30], [70, 12], [50, 60]])],
        ["a"],
    )
    cfg = LandmarkFitConfig(canvas=96)
    a = WingViews(data, cfg, np.random.default_rng(3)).batch(2)
    b = WingViews(data, cfg, np.random.default_rng(3)).batch(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert a[0].shape == (2, 3, 96, 96) and a[1].shape == (2, 3, 24, 24)
