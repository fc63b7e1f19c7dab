"""Findings of the security review, each through the surface where it was found."""

import json

import cv2
import numpy as np
import pytest

from device.durable import replace_file
from export.annotate_guard import Refused, check_name
from tests import onnx_fixtures
from tests.conftest import run_cli, squares_image, write_png


def one_line_error(proc, *needles: str) -> None:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def test_a_huge_picture_in_a_small_file_is_refused_before_decoding(tmp_path):
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((9000, 9000), np.uint8))  # 81 Mpx, a few hundred KB
    assert big.stat().st_size < 2_000_000
    one_line_error(run_cli("count", str(big)), str(big), "larger than 64 Mpx")


def test_a_zoom_reference_far_from_the_shown_size_is_refused(tmp_path):
    far = json.dumps({"ref_px": 2000, "lo": 1, "hi": 1, "adapt": True})
    meta = onnx_fixtures.metadata(["egg"], **{"scopecount.zoom": far})
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    img = write_png(tmp_path / "a.png", squares_image([(40, 40)]))
    one_line_error(run_cli("count", str(img), "--model", str(model)), "scopecount.zoom.ref_px")


@pytest.mark.parametrize(
    "norm",
    [
        '{"mean": [NaN, 0, 0], "std": [1, 1, 1]}',
        '{"mean": [0, 0, 0], "std": [Infinity, 1e-300, 1]}',
    ],
)
def test_non_finite_normalization_is_refused(tmp_path, norm):
    meta = onnx_fixtures.metadata(["egg"], **{"scopecount.normalization": norm})
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    img = write_png(tmp_path / "a.png", squares_image([(40, 40)]))
    one_line_error(run_cli("count", str(img), "--model", str(model)), "normalization")


def test_points_csv_that_is_not_utf8_is_one_line(tmp_path):
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(40, 40)]))
    (tmp_path / "f" / "points.csv").write_bytes(b"image,x,y,label\na.png,40,40,\xffgg\n")
    one_line_error(
        run_cli("train", str(tmp_path / "f"), "--out", str(tmp_path / "m.onnx")),
        "points.csv",
        "not UTF-8",
    )


def _labelme(src, label: str) -> None:
    write_png(src / "b.png", squares_image([(40, 40)]))
    doc = {
        "imagePath": "b.png",
        "imageHeight": 128,
        "imageWidth": 160,
        "shapes": [{"label": label, "points": [[40, 40]], "shape_type": "point"}],
    }
    (src / "b.json").write_text(json.dumps(doc))


def test_formula_labels_are_neutralised_in_points_csv_and_read_back_raw(tmp_path):
    _labelme(tmp_path / "src", "=SUM(1)")
    proc = run_cli("import", "labelme", str(tmp_path / "src"), str(tmp_path / "f"))
    assert proc.returncode == 0, proc.stderr
    assert "'=SUM(1)" in (tmp_path / "f" / "points.csv").read_text()
    from export.folder import read_folder

    assert read_folder(tmp_path / "f").classes == ["=SUM(1)"]


@pytest.mark.parametrize("label", ["a/b", "x" * 60])
def test_class_names_every_model_would_refuse_are_refused_at_import(tmp_path, label):
    _labelme(tmp_path / "src", label)
    dest = tmp_path / "f"
    one_line_error(run_cli("import", "labelme", str(tmp_path / "src"), str(dest)), "class name")
    assert not dest.exists() or not any(dest.rglob("*.csv"))


@pytest.mark.parametrize("label", ["a/b", "x" * 60, ".."])
def test_annotation_page_refuses_names_a_model_would_refuse(label):
    with pytest.raises(Refused):
        check_name(label, "label")


def test_a_failed_rename_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "a.png"
    target.mkdir()
    with pytest.raises(OSError):
        replace_file(target, b"data")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png"]
