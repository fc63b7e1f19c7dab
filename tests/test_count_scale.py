"""The count scale `train` fits on its own training images: both ways, bounded, and on the
counts the bench reads (inside the image, not its padding; negatives clipped)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from export.dataset import Prepared
from export.net import DENSITY_GAIN, OUTPUT_STRIDE
from export.train import (
    COUNT_SCALE_RANGE,
    INT8_MAX_BIAS,
    OVERCOUNT_TOLERANCE,
    fit_count_scale,
    int8_agreement,
    training_sums,
)


def test_a_steady_overcount_is_scaled_down():
    true = np.array([[100.0], [50.0]])
    assert abs(fit_count_scale(true * 1.08, true) - 1 / 1.08) < 1e-9


def test_a_small_overcount_is_left_alone():
    true = np.array([[100.0], [50.0]])
    assert fit_count_scale(true * (1 + OVERCOUNT_TOLERANCE / 2), true) == 1.0


def test_a_steady_undercount_is_scaled_up():
    true = np.array([[100.0], [50.0]])
    assert abs(fit_count_scale(true * 0.9, true) - 1 / 0.9) < 1e-9


def test_the_scale_stays_within_its_bounds():
    true = np.array([[100.0]])
    lo, hi = COUNT_SCALE_RANGE
    assert fit_count_scale(true * 3.0, true) == lo
    assert fit_count_scale(true * 0.1, true) == hi
    assert fit_count_scale(np.zeros((1, 1)), true) == hi


class _Constant(nn.Module):
    """One unit of density per output pixel, -1 in the first row: a model with a known sum."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        out = torch.ones(n, 1, h // OUTPUT_STRIDE, w // OUTPUT_STRIDE) * DENSITY_GAIN
        out[:, :, 0] = -DENSITY_GAIN
        return out


def test_training_sums_leave_out_the_padding_and_negatives():
    # A 50x70 image padded to 64x80: the bench counts 13x18 output pixels, not 16x20.
    img = np.zeros((64, 80, 3), np.float32)
    data = Prepared([img], [np.zeros((1, 64, 80), np.float32)], np.array([[1.0]]), ["a"])
    whole = training_sums(_Constant(), data)
    assert whole[0, 0] == (16 - 1) * 20  # without shapes: every row but the negative one
    data.shapes = [(50, 70)]
    inside = training_sums(_Constant(), data)
    assert inside[0, 0] == (13 - 1) * 18


def test_int8_steady_difference_is_folded_into_its_count_scale():
    float_sums = np.array([100.0, 50.0, 80.0])
    k, diff = int8_agreement(float_sums, float_sums * 1.025)  # int8 2.5% high on every image
    assert abs(k - 1 / 1.025) < 1e-9 and diff < 1e-9
    noisy = float_sums * 1.025 + np.array([3.0, -3.0, 0.0])
    k, diff = int8_agreement(float_sums, noisy)
    assert diff > 0.02  # what is left is disagreement image by image: refused


def test_int8_difference_too_large_to_be_rounding_is_not_scaled_away():
    float_sums = np.array([100.0, 50.0])
    k, diff = int8_agreement(float_sums, float_sums * (1 + 2 * INT8_MAX_BIAS))
    assert k == 1.0 and diff > 0.15
