"""The network's input on the bench: the fast table path gives the training arithmetic's values."""

from __future__ import annotations

import numpy as np
import pytest

from device.measuring.preprocess import PAD_MULTIPLE, model_input, normalize, pad_to

MEAN, STD = [0.52, 0.47, 0.41], [0.23, 0.21, 0.19]


def reference(rgb: np.ndarray) -> np.ndarray:
    """What training feeds the network: float arithmetic, edge padding, then channels first."""
    x = pad_to(normalize(rgb, MEAN, STD))
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


@pytest.mark.parametrize("hw", [(16, 16), (17, 31), (95, 130), (960, 1280), (1495, 1994)])
def test_the_fast_input_is_the_training_input_to_the_bit(hw: tuple[int, int]) -> None:
    rgb = np.random.default_rng(hw[0]).integers(0, 256, (*hw, 3), dtype=np.uint8)
    got = model_input(rgb, MEAN, STD)
    want = reference(rgb)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == want.shape
    assert got.shape[2] % PAD_MULTIPLE == 0 and got.shape[3] % PAD_MULTIPLE == 0
    assert np.array_equal(got, want)


def test_padding_repeats_the_last_row_and_column() -> None:
    rgb = np.zeros((17, 18, 3), np.uint8)
    rgb[-1, :, 0] = 200  # a bright last row: the padding below must repeat it, not invent a band
    rgb[:, -1, 1] = 100
    x = model_input(rgb, MEAN, STD)
    assert x.shape == (1, 3, 32, 32)
    assert np.all(x[0, 0, 17:, :18] == x[0, 0, 16, 0])
    assert np.all(x[0, 1, :16, 18:] == x[0, 1, 0, 17])


def test_a_frame_that_is_not_8_bit_rgb_still_gets_the_training_arithmetic() -> None:
    rgb = np.random.default_rng(1).random((20, 21, 3)).astype(np.float32) * 255
    assert np.array_equal(model_input(rgb, MEAN, STD), reference(rgb))


def test_an_empty_frame_is_refused_not_made_from_uninitialised_memory() -> None:
    for shape in ((0, 0, 3), (0, 5, 3), (5, 0, 3)):
        with pytest.raises(ValueError, match="empty frame"):
            model_input(np.zeros(shape, np.uint8), MEAN, STD)


def test_a_resize_to_more_pixels_than_the_network_may_take_is_refused():
    from device.core.errors import BadInput
    from device.measuring.preprocess import rescale

    big = np.broadcast_to(np.zeros((1, 1, 3), np.uint8), (3000, 3000, 3))  # no memory
    with pytest.raises(BadInput, match=r"3000x3000 image resized by 2 would be 6000x6000"):
        rescale(big, 2.0)
    assert rescale(big, 0.5).shape == (1500, 1500, 3)
