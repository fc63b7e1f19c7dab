"""Centroid size and Procrustes superimposition, on configurations with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device.measuring.shapes import centroid_size, mean_shape, mirror_x, superimpose

WING = np.array(
    [[290, 372], [100, 301], [73, 251], [158, 160], [400, 150], [520, 260], [350, 300]], float
)


def turned(pts: np.ndarray, deg: float, scale: float = 1.0, shift=(0.0, 0.0)) -> np.ndarray:
    t = math.radians(deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return pts @ rot.T * scale + np.array(shift)


def test_centroid_size_of_a_square():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], float)
    # each corner sqrt(2) from the centre: sqrt(4 * 2)
    assert centroid_size(square) == pytest.approx(math.sqrt(8))


def test_centroid_size_skips_missing_landmarks_and_scales_with_the_image():
    pts = WING.copy()
    assert centroid_size(pts * 2.5) == pytest.approx(2.5 * centroid_size(pts))
    pts[0] = np.nan
    assert centroid_size(pts) == pytest.approx(centroid_size(WING[1:]))
    assert math.isnan(centroid_size(np.full((3, 2), np.nan)))


def test_a_turned_scaled_shifted_copy_has_the_same_shape():
    other = turned(WING, 73, scale=1.7, shift=(40, -12))
    fit = superimpose(other, WING)
    assert fit.distance == pytest.approx(0, abs=1e-9) and not fit.mirrored
    assert np.allclose(fit.aligned, WING, atol=1e-6)


def test_a_mirrored_wing_is_recognised_only_when_reflection_is_allowed():
    flipped = turned(mirror_x(WING, 632), 30)
    proper = superimpose(flipped, WING)
    free = superimpose(flipped, WING, allow_mirror=True)
    assert free.mirrored and free.distance == pytest.approx(0, abs=1e-9)
    assert not proper.mirrored and proper.distance > 0.1


def test_distance_grows_with_a_moved_landmark_and_uses_common_landmarks_only():
    moved = WING.copy()
    moved[3] += (30, 0)
    small = superimpose(moved, WING).distance
    moved[5] += (0, 60)
    assert superimpose(moved, WING).distance > small > 0
    missing = moved.copy()
    missing[[3, 5]] = np.nan
    fit = superimpose(missing, WING)
    assert fit.common == len(WING) - 2 and fit.distance == pytest.approx(0, abs=1e-9)
    assert np.isnan(fit.aligned[3]).all()


def test_too_few_common_landmarks_is_an_error():
    pts = WING.copy()
    pts[2:] = np.nan
    with pytest.raises(ValueError, match="in common"):
        superimpose(pts, WING)


def test_mean_shape_of_noisy_turned_copies_is_the_shape():
    rng = np.random.default_rng(0)
    copies = [
        turned(WING + rng.normal(0, 0.5, WING.shape), rng.uniform(0, 360), rng.uniform(0.5, 2))
        for _ in range(20)
    ]
    copies[3][1] = np.nan  # a missing landmark does not stop it
    mean = mean_shape(copies)
    assert centroid_size(mean) == pytest.approx(1.0)
    assert superimpose(mean, WING).distance < 0.01


def test_mirror_maps_pixel_centres_onto_each_other():
    pts = np.array([[0.0, 5.0], [631.0, 7.0], [315.5, 1.0]])
    assert mirror_x(pts, 632).tolist() == [[631.0, 5.0], [0.0, 7.0], [315.5, 1.0]]
