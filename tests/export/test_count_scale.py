"""The count scale `train` fits on its own training images: both ways, bounded, and on the
counts the bench reads (inside the image, not its padding; negatives clipped)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from export.count_scale import (
    COUNT_SCALE_RANGE,
    INT8_MAX_BIAS,
    OVERCOUNT_TOLERANCE,
    fit_count_scale,
    int8_agreement,
    training_sums,
)
from export.dataset import Prepared
from export.net import DENSITY_GAIN, OUTPUT_STRIDE
from tests.support.folders import squares_folder


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


def test_int8_refused_removes_the_earlier_model_at_out(tmp_path, monkeypatch):
    """A refused int8 must not leave the previous model at --out to be counted with."""
    import export.train as train_mod
    from device.measuring.modelfile import sig_path

    folder = squares_folder(tmp_path / "f")
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the previous model")
    sig_path(out).write_text("its signature")
    monkeypatch.setattr(train_mod, "INT8_TOLERANCE", -1.0)  # every int8 model is refused
    opts = train_mod.TrainOptions(steps=5, threads=1)
    with pytest.raises(train_mod.Int8Refused, match="earlier model at .*m.onnx was removed"):
        train_mod.train(folder, out, opts)
    assert not out.exists() and not sig_path(out).exists()
    assert out.with_name("m.float.onnx").exists()
    rep = json.loads(out.with_name("m.report.json").read_text())
    assert rep["model"] is None and rep["int8_refused"] is True


def test_the_int8_file_carries_its_own_count_scale(tmp_path):
    import onnx

    from tests.conftest import run_cli

    folder = squares_folder(tmp_path / "f")
    out = tmp_path / "m.onnx"
    proc = run_cli("train", str(folder), "--out", str(out), "--steps", "40", "--threads", "1")
    assert proc.returncode in (0, 1), proc.stderr.decode()[-1500:]
    rep = json.loads(out.with_name("m.report.json").read_text())

    def decode(path):
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        return json.loads(meta["scopecount.decode"])["count_scale"]

    assert abs(decode(out) - rep["count_scale_int8"]) < 1e-3
    assert abs(decode(out.with_name("m.float.onnx")) - rep["count_scale"]) < 1e-3
    assert b"count correction x" in proc.stdout
