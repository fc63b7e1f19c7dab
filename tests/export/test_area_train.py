"""Training an areas model: the loss (unlabelled pixels ignored, the share term), determinism,
and `scopecount train` on a synthetic areas folder end to end (a real int8 ONNX file that the
bench's detector opens and that measures sections it never saw)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from device.measuring.detector import open_detector_file
from export.area_fit import AreaData, AreaFitConfig, area_loss, fit_areas
from tests.cli.test_areas_cli import areas_folder
from tests.conftest import run_cli, write_png
from tests.support.onnx_fixtures import colour_image


def test_unlabelled_pixels_do_not_move_the_loss():
    torch.manual_seed(0)
    scores = torch.randn(1, 3, 4, 4)
    labels = torch.full((1, 16, 16), -1, dtype=torch.long)
    labels[0, :8] = 1
    other = scores.clone()
    other[:, :, 3, :] += 5.0  # only cells far from the labelled rows change
    labels[0, 8:] = -1
    a, b = area_loss(scores, labels), area_loss(other, labels)
    assert torch.isclose(a, b, atol=1e-3)
    assert float(area_loss(scores, torch.full((1, 16, 16), -1, dtype=torch.long))) == 0.0


def test_the_share_term_is_zero_when_soft_shares_match_and_grows_with_the_error():
    labels = torch.zeros((1, 8, 8), dtype=torch.long)
    labels[0, :, :4] = 1  # half class 1
    even = torch.zeros(1, 2, 2, 2)  # 50/50 everywhere: the shares match, the pixels do not
    base = area_loss(even, labels)
    assert torch.isclose(area_loss(even, labels, 1.0), base)
    skewed = torch.zeros(1, 2, 2, 2)
    skewed[:, 1] = 3.0  # class 1 nearly everywhere: its share ~0.95 against 0.5
    assert float(area_loss(skewed, labels, 1.0) - area_loss(skewed, labels)) > 0.8


def tiny_data() -> AreaData:
    rng = np.random.default_rng(0)
    img = rng.normal(0, 1, (64, 64, 3)).astype(np.float32)
    lab = (img[:, :, 0] > 0).astype(np.int64)
    return AreaData([img], [lab], ["a"])


def test_training_is_deterministic_for_the_same_seed():
    cfg = AreaFitConfig(steps=6, patch=32, batch=2, width=4, threads=1)
    a = fit_areas(tiny_data(), 2, cfg).net.state_dict()
    b = fit_areas(tiny_data(), 2, cfg).net.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_train_on_an_areas_folder_makes_an_int8_areas_model_that_measures(tmp_path):
    folder = areas_folder(tmp_path / "sections", n=4)
    out = tmp_path / "m.onnx"
    # 600 steps: at 300 the green square came out at half its area on some CPUs (AMD EPYC here)
    r = run_cli("train", str(folder), "--out", str(out), "--steps", "600", "--width", "8")
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    said = r.stdout.decode()
    assert "task areas: classes red, green" in said and "GMAC per 1280x960" in said
    det = open_detector_file(out)
    assert det.task == "areas" and det.info.classes == ["red", "green"]
    assert det.info.quantization.startswith("int8")
    report = json.loads((tmp_path / "m.report.json").read_text())
    assert report["task"] == "areas" and report["int8_vs_float_pp"] <= 0.5
    assert (tmp_path / "m.float.onnx").exists() and (tmp_path / "m.curve.png").exists()
    img = colour_image((96, 128), red=(8, 8, 40, 40), green=(70, 50, 40, 30))
    res = det.measure(img)
    assert res.areas["red"] == pytest.approx(40 * 40 / (96 * 128), abs=0.04)
    assert res.areas["green"] == pytest.approx(40 * 30 / (96 * 128), abs=0.04)
    shot = write_png(tmp_path / "shot.png", img)
    js = json.loads(run_cli("count", str(shot), "--model", str(out), "--json").stdout)
    assert js["task"] == "areas" and js["areas"] == res.areas


def test_train_refuses_object_options_for_an_areas_folder(tmp_path):
    folder = areas_folder(tmp_path / "sections", n=2)
    r = run_cli("train", str(folder), "--out", str(tmp_path / "m.onnx"), "--object-px", "20")
    assert r.returncode == 2 and "--object-size/--object-px" in r.stderr.decode()
    assert not (tmp_path / "m.onnx").exists()


def test_a_folder_with_one_kind_of_labelled_pixel_is_refused_before_training(tmp_path):
    folder = areas_folder(tmp_path / "sections", n=2)
    for m in (folder / "masks").iterdir():  # red only: the rest unlabelled
        import cv2

        mask = cv2.imread(str(m), cv2.IMREAD_UNCHANGED)
        mask[mask != 2] = 0
        cv2.imwrite(str(m), mask)
    r = run_cli("train", str(folder), "--out", str(tmp_path / "m.onnx"), "--steps", "5")
    err = r.stderr.decode()
    assert r.returncode == 2 and "only red is labelled" in err
    assert not (tmp_path / "m.onnx").exists()


def test_the_smoothness_term_follows_colour_edges():
    """Two colours side by side: classes that change where the colour changes cost almost
    nothing; classes that change inside one colour cost more; one class everywhere costs 0."""
    from export.area_fit import smooth_loss

    img = torch.zeros(1, 3, 64, 64)
    img[:, :, :, 32:] = 3.0  # a colour edge down the middle (normalised units)
    along = torch.full((1, 2, 16, 16), -10.0)
    along[:, 0, :, :8], along[:, 1, :, 8:] = 10.0, 10.0  # classes split at the colour edge
    across = torch.full((1, 2, 16, 16), -10.0)
    across[:, 0, :8], across[:, 1, 8:] = 10.0, 10.0  # classes split across one colour
    same = torch.zeros(1, 2, 16, 16)
    same[:, 0] = 10.0
    assert float(smooth_loss(same, img)) < 1e-3
    assert float(smooth_loss(along, img)) < 1e-3
    assert float(smooth_loss(across, img)) > 0.02
