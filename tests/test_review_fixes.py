"""Findings of the security review, each through the surface where it was found."""

import json

import cv2
import numpy as np
import pytest

from device.core.durable import replace_file
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


# -- what a new user met ------------------------------------------------------------------------
def test_overlays_of_images_with_the_same_name_do_not_overwrite_each_other(tmp_path):
    a = write_png(tmp_path / "a" / "IMG_0001.png", squares_image([(40, 40)]))
    b = write_png(tmp_path / "b" / "IMG_0001.png", squares_image([(80, 60)]))
    proc = run_cli("count", str(a), str(b), "--overlay", str(tmp_path / "ov"))
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "ov").iterdir())
    assert names == ["IMG_0001-2_overlay.png", "IMG_0001_overlay.png"]


def test_a_float_tiff_from_fiji_reads_like_its_8_bit_twin(tmp_path):
    from device.core.imageio import read_rgb

    rgb = squares_image([(40, 40), (100, 60)])
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "f.tif"), grey.astype(np.float32) / 255.0)
    cv2.imwrite(str(tmp_path / "u.png"), grey)
    diff = read_rgb(tmp_path / "f.tif").astype(int) - read_rgb(tmp_path / "u.png").astype(int)
    assert np.abs(diff).max() <= 1


def test_a_reader_that_stops_early_is_not_a_failure(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    img = write_png(tmp_path / "a.png", squares_image([(40, 40)]))
    exe = Path(sys.executable).with_name("scopecount")
    p = subprocess.Popen(
        [str(exe), "count", *[str(img)] * 400], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    p.stdout.read(10)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0 and "BrokenPipe" not in err, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["count", "x.png", "--threads", "-3"], "--threads"),
        (["evaluate", "f", "--model", "m.onnx", "--radius", "-2"], "--radius"),
        (["evaluate", "f", "--model", "m.onnx", "--zooms", "1,,2"], "--zooms"),
        (["model", "list", "--store", "/nonexistent/store"], "no such model store"),
        (["model", "list", "--store", "/tmp/" + "a" * 5000], "not a usable path"),
        (["benchmark", "--repeats", "-1"], "--repeats"),
        (["benchmark", "--repeats", "0"], "--repeats"),
        (["benchmark", "--threads", "-2"], "--threads"),
        (["evaluate", "f", "--model", "m.onnx", "--zooms", "1\n\x1b[31m2"], "\\x1b[31m"),
        (["train", "f", "--out", "m.onnx", "--budget-gmac", "<b>" + "9" * 100_000], "<b>999"),
        (["model", "install", "m.onnx", "--store", "/tmp/" + "a" * 300], "not a usable path"),
    ],
)
def test_bad_values_are_one_line(args, needle):
    one_line_error(run_cli(*args), needle)


def test_store_paths_that_lead_nowhere_are_one_line(tmp_path, spot_model):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for store, needle in (("loop1", "not a usable path"), ("dangling", "a link to nothing")):
        for action in (["list"], ["install", str(spot_model)]):
            proc = run_cli("model", *action, "--store", str(tmp_path / store))
            one_line_error(proc, needle)
    one_line_error(run_cli("model", "list", "--store", ""), "--store: an empty path")
    assert not (tmp_path / "nowhere").exists()


def test_a_file_where_the_store_should_be_is_one_line(tmp_path, spot_model):
    (tmp_path / "store").write_text("")
    one_line_error(
        run_cli("model", "install", str(spot_model), "--store", str(tmp_path / "store")),
        "is a file",
    )


def test_an_unwritable_plot_is_refused_before_evaluating(tmp_path, spot_model):
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(40, 40)]))
    (tmp_path / "f" / "points.csv").write_text("image,x,y,label\na.png,40,40,spot\n")
    one_line_error(
        run_cli(
            "evaluate", str(tmp_path / "f"), "--model", str(spot_model), "--plot", "/proc/x.png"
        ),
        "--plot",
    )


def test_a_huge_refused_value_is_not_echoed_whole():
    proc = run_cli("train", "f", "--out", "m.onnx", "--budget-gmac", "<b>" + "9" * 100_000)
    one_line_error(proc, "--budget-gmac")
    assert len(proc.stderr) < 500, len(proc.stderr)
