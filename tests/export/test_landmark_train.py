"""Training a landmarks model end to end on synthetic wings: ONNX files the bench opens, the
int8 check, the shape limits in the model, and the refusals before training."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import pytest

from device.core.errors import BadInput
from device.measuring.detector import open_detector_file
from device.measuring.landmark_refine import PATCH, RADIUS
from export.landmark_train import train_landmarks_on
from export.landmarks_folder import read_landmarks_folder
from export.train_options import Int8Refused, TrainOptions
from tests.support.wing_folders import wing_folder, wing_image, wing_points

FAST = {"canvas": 128}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = wing_folder(tmp_path_factory.mktemp("wings") / "f", 8)
    out = root.parent / "wings.onnx"
    opts = TrainOptions(steps=400, zoom_range=False)
    try:
        train_landmarks_on(read_landmarks_folder(root), out, opts, 1.0, fit_overrides=FAST)
    except Int8Refused:
        pass  # the float model is written either way; the report says which
    return out


def test_the_model_files_and_report(trained):
    rep = json.loads(trained.with_name("wings.report.json").read_text())
    assert rep["task"] == "landmarks" and rep["landmarks"] == ["1", "2", "3"]
    assert rep["steps"] == 400 and rep["int8_vs_float_px"] >= 0
    assert rep.get("int8_refused") is (None if trained.exists() else True)
    assert (rep["int8_vs_float_px"] <= 0.3) == trained.exists()
    assert 0.05 <= rep["max_shape_distance"] <= 2.0
    # four views share the 2 GMAC budget: scale 1 (0.9 GMAC a view) is lowered until all four fit
    assert rep["input_scale"] < 1.0 and 1.9e9 < rep["macs_per_frame"] <= 2e9


def test_the_float_model_places_landmarks_on_new_wings(trained):
    det = open_detector_file(trained.with_name("wings.float.onnx"))
    assert det.task == "landmarks" and det.info.classes == ["1", "2", "3"]
    assert det.params.views == 4
    rng = np.random.default_rng(99)
    errors, mirrored = [], []
    for i in range(6):
        pts = np.round(wing_points(rng, (96, 128), mirror=i % 2 == 1))
        res = det.measure(wing_image(pts, (96, 128)))
        got = np.array([p if p is not None else (np.nan, np.nan) for p in res.landmarks])
        errors.append(np.linalg.norm(got - pts, axis=1))
        mirrored.append(res.mirrored)
    assert np.nanmean(errors) < 3.0, errors
    assert mirrored == [False, True] * 3


def test_the_model_carries_each_landmarks_look_and_places_finer_with_it(trained):
    det = open_detector_file(trained.with_name("wings.float.onnx"))
    looks = det.params.looks
    assert looks is not None and looks.size == PATCH and looks.radius == RADIUS
    assert looks.patches.shape == (3, PATCH, PATCH) and looks.patches.any(axis=(1, 2)).all()
    plain = copy.copy(det)
    plain.params = replace(det.params, looks=None)
    rng = np.random.default_rng(7)
    finer, coarse = [], []
    for i in range(6):
        pts = np.round(wing_points(rng, (96, 128), mirror=i % 2 == 1))
        img = wing_image(pts, (96, 128))
        for d, errs in ((det, finer), (plain, coarse)):
            got = np.array(
                [p if p is not None else (np.nan, np.nan) for p in d.measure(img).landmarks]
            )
            errs.append(np.linalg.norm(got - pts, axis=1))
    assert np.nanmean(finer) < np.nanmean(coarse), (finer, coarse)


def test_too_few_landmarks_or_whole_wings_are_refused_before_training(tmp_path):
    root = wing_folder(tmp_path / "f", 3)
    lines = (root / "landmarks.csv").read_text().splitlines()
    csv = root / "landmarks.csv"
    csv.write_text("\n".join(ln for ln in lines if ",3," not in ln) + "\n")
    with pytest.raises(BadInput, match="2 landmarks: a shape needs 3 or more"):
        train_landmarks_on(read_landmarks_folder(root), tmp_path / "m.onnx", TrainOptions())
    torn = ("w0.png,3,", "w1.png,3,")
    csv.write_text("\n".join(ln for ln in lines if not ln.startswith(torn)) + "\n")
    with pytest.raises(BadInput, match="1 image"):
        train_landmarks_on(read_landmarks_folder(root), tmp_path / "m.onnx", TrainOptions())


def test_parts_left_float_are_named_in_words():
    from export.landmark_train import INT8_LADDER, float_parts_words

    assert float_parts_words("stem,up,head") == "the first layer, the decoder, the heatmap layer"
    assert float_parts_words(None) == "nothing" == float_parts_words("")
    assert INT8_LADDER[0] == ()  # all-int8 is always tried first


def test_looks_take_the_wing_size_from_whole_wings_and_none_from_degenerate_ones():
    from types import SimpleNamespace

    from export.landmark_train import wing_looks

    mean = np.array([[-0.5, -0.3], [0.5, -0.3], [0.0, 0.6]])
    mean /= np.sqrt((mean**2).sum())
    dot = SimpleNamespace(points=np.full((3, 2), 40.0))
    torn = SimpleNamespace(points=np.array([[10.0, 10.0], [90.0, 10.0], [np.nan, np.nan]]))
    greys = [np.zeros((96, 128), np.float32)] * 3
    assert wing_looks(SimpleNamespace(samples=[dot, dot, torn]), greys, mean) is None
    whole = SimpleNamespace(points=mean * 50 + 60)
    looks = wing_looks(SimpleNamespace(samples=[dot, torn, whole]), greys, mean)
    assert looks is not None and np.sqrt((looks.canon**2).sum()) == pytest.approx(50.0)
