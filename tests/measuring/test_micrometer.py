"""A stage micrometer's divisions found in synthetic photographs: known spacing, any angle,
blur, noise and uneven light; an image without lines is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from device.measuring.micrometer import find_divisions


def micrometer(period: float, angle_deg: float, hw=(480, 640), seed: int = 0) -> np.ndarray:
    """Dark lines `period` px apart across the direction `angle_deg`, every tenth longer, on a
    bright field with a light gradient, blur and noise."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = np.radians(angle_deg)
    u = xx * np.cos(t) + yy * np.sin(t)  # position across the lines
    phase = np.mod(u, period)
    line = np.exp(-0.5 * (np.minimum(phase, period - phase) / 0.8) ** 2)
    img = 200 - 150 * line + 30 * xx / w
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    img += np.random.default_rng(seed).normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    ("period", "angle"), [(12.5, 0.0), (12.5, 90.0), (20.0, 33.0), (7.3, 125.0), (31.0, 170.0)]
)
def test_the_spacing_is_found_within_half_a_percent_at_any_angle(period, angle):
    d = find_divisions(micrometer(period, angle))
    assert d.period_px == pytest.approx(period, rel=0.005)
    diff = abs((d.angle_deg - angle + 90) % 180 - 90)
    assert diff < 2.0


def test_an_image_without_lines_is_refused():
    rng = np.random.default_rng(1)
    speckle = cv2.GaussianBlur(rng.normal(128, 30, (480, 640)), (0, 0), 3).astype(np.uint8)
    with pytest.raises(ValueError, match="no regular lines"):
        find_divisions(speckle)


def test_a_tiny_image_is_refused_and_a_huge_one_measured_from_its_middle():
    with pytest.raises(ValueError, match="too small"):
        find_divisions(micrometer(3.0, 0.0, hw=(8, 8)))
    big = micrometer(15.0, 20.0, hw=(3000, 3000))
    assert find_divisions(big).period_px == pytest.approx(15.0, rel=0.005)
