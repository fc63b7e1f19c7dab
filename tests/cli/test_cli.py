import json

import pytest

from tests.conftest import run_cli, squares_image, write_png
from tests.support import onnx_fixtures
from tests.support.cli_checks import one_line_error


def test_count_json_contract(tmp_path, spot_model):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24), (96, 40)]))
    proc = run_cli("count", str(img), "--model", str(spot_model), "--json")
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["image"] == str(img)
    assert obj["counts"] == {"spot": 2}
    assert len(obj["points"]) == 2 and obj["points"][0][2] == "spot"
    assert obj["model"] == "bright-spot" and len(obj["model_sha256"]) == 64
    assert isinstance(obj["ms"], float)


def test_count_overlay(tmp_path, spot_model):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    proc = run_cli("count", str(img), "--model", str(spot_model), "--overlay", str(tmp_path / "ov"))
    assert proc.returncode == 0, proc.stderr
    assert "spot 1" in proc.stdout.decode()
    assert (tmp_path / "ov" / "a_overlay.png").stat().st_size > 0


def test_count_missing_image(tmp_path, spot_model):
    one_line_error(
        run_cli("count", str(tmp_path / "nope.png"), "--model", str(spot_model)),
        "nope.png",
        "no such image file",
    )


def test_count_unreadable_image(tmp_path, spot_model):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8 not really")
    one_line_error(
        run_cli("count", str(bad), "--model", str(spot_model)), "bad.jpg", "not a readable"
    )


@pytest.mark.parametrize("data", [b"", b"junk" * 10])
def test_count_bad_model(tmp_path, data):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    model = tmp_path / "m.onnx"
    model.write_bytes(data)
    one_line_error(run_cli("count", str(img), "--model", str(model)), "m.onnx")


def test_count_model_with_broken_metadata(tmp_path):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    meta = onnx_fixtures.metadata(["spot"], **{"scopecount.classes": "nope"})
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    one_line_error(
        run_cli("count", str(img), "--model", str(model)), "m.onnx", "scopecount.classes"
    )


def test_usage_errors_are_one_line_exit_2():
    one_line_error(run_cli("count"), "required")
    one_line_error(run_cli("train", "x"), "--out")
    one_line_error(run_cli("count", "a.png", "--threads", "many"), "--threads")


def test_train_bad_inputs(tmp_path):
    one_line_error(
        run_cli("train", str(tmp_path / "none"), "--out", str(tmp_path / "m.onnx")), "not a folder"
    )
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(24, 24)]))
    (tmp_path / "f" / "points.csv").write_text("image,x,y,label\na.png,9999,1,egg\n")
    one_line_error(
        run_cli("train", str(tmp_path / "f"), "--out", str(tmp_path / "m.onnx")),
        "points.csv: row 2",
        "outside",
    )
    (tmp_path / "f" / "points.csv").write_text("image,x,y,label\na.png,24,24,egg\n")
    one_line_error(run_cli("train", str(tmp_path / "f"), "--out", str(tmp_path / "m.txt")), ".onnx")
    one_line_error(
        run_cli("train", str(tmp_path / "f"), "--out", str(tmp_path / "no" / "m.onnx")),
        "does not exist",
    )
    for flag, value in (("--object-px", "0"), ("--object-size", "-3"), ("--minutes", "-1")):
        one_line_error(
            run_cli("train", str(tmp_path / "f"), "--out", str(tmp_path / "m.onnx"), flag, value),
            f"{flag} {float(value)}",
        )
    assert not (tmp_path / "m.onnx").exists()


def test_config_check(tmp_path):
    good = tmp_path / "good.toml"
    good.write_text('[button]\npin = 27\nhold_s = 1.5\n[storage]\npath = "/media/stick"\n')
    proc = run_cli("config", "check", "--config", str(good))
    assert proc.returncode == 0 and b"ok" in proc.stdout
    cases = [
        ("[button]\npin = 99\n", "[button] pin = 99: must be in [0, 27]"),
        ("[button]\npinn = 3\n", "[button] pinn: unknown key"),
        ("[camera]\nbackend = 'webcam'\n", "expected one of picamera2, opencv, replay"),
        ("[light]\nready = 'dim'\n", "[light] ready = 'dim': expected a number"),
        ("[lights]\n", "[lights]: unknown section"),
        ("[button\n", "not valid TOML"),
    ]
    for text, expected in cases:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        one_line_error(run_cli("config", "check", "--config", str(bad)), str(bad), expected)
    one_line_error(run_cli("config", "check", "--config", str(tmp_path / "x.toml")), "no such")


def test_count_says_when_the_model_is_the_synthetic_demo(tmp_path, spot_model):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    obj = json.loads(run_cli("count", str(img), "--model", str(spot_model), "--json").stdout)
    assert "synthetic vials only" in obj["warning"]
    assert set(obj) >= {"image", "counts", "points", "model", "model_sha256", "ms"}
    text = run_cli("count", str(img), "--model", str(spot_model)).stdout.decode()
    assert "synthetic vials only" in text
    real = onnx_fixtures.metadata(["spot"], **{"scopecount.training": '{"synthetic": false}'})
    model = onnx_fixtures.write(tmp_path / "r.onnx", onnx_fixtures.bright_spot_model(meta=real))
    obj = json.loads(run_cli("count", str(img), "--model", str(model), "--json").stdout)
    assert "warning" not in obj


def test_count_default_model_is_the_demo_and_says_so(tmp_path):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    obj = json.loads(run_cli("count", str(img), "--json").stdout)
    assert obj["model"] == "drosophila-eggs-demo" and "synthetic" in obj["warning"]


def test_demo_default_seed_is_not_the_demo_models_training_seed(tmp_path):
    from device.hardware import synthetic

    proc = run_cli("demo", str(tmp_path / "d"), "--images", "1", "--width", "64", "--height", "48")
    assert proc.returncode == 0, proc.stderr
    names = [p.name for p in (tmp_path / "d" / "images").iterdir()]
    assert names == [f"vial_{synthetic.DEMO_SEED:02d}_000.png"]
    assert synthetic.DEMO_SEED not in (synthetic.TRAIN_SEED, synthetic.HELD_OUT_SEED)


# -- what a new user met ------------------------------------------------------------------------
def test_overlays_of_images_with_the_same_name_do_not_overwrite_each_other(tmp_path):
    a = write_png(tmp_path / "a" / "IMG_0001.png", squares_image([(40, 40)]))
    b = write_png(tmp_path / "b" / "IMG_0001.png", squares_image([(80, 60)]))
    proc = run_cli("count", str(a), str(b), "--overlay", str(tmp_path / "ov"))
    assert proc.returncode == 0, proc.stderr
    names = sorted(p.name for p in (tmp_path / "ov").iterdir())
    assert names == ["IMG_0001-2_overlay.png", "IMG_0001_overlay.png"]


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


def test_count_with_a_scale_gives_objects_per_mm2(tmp_path, spot_model):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24), (96, 40)]))
    h, w = squares_image([]).shape[:2]
    obj = json.loads(
        run_cli("count", str(img), "--model", str(spot_model), "--json", "--um-per-px", "2").stdout
    )
    assert obj["um_per_px"] == 2.0 and "objective" not in obj
    assert obj["per_mm2"]["spot"] == pytest.approx(2 / (h * w * 0.002**2), rel=1e-3)
    text = run_cli("count", str(img), "--model", str(spot_model), "--um-per-px", "2").stdout
    assert "/mm²" in text.decode()


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf", "1e9"])
def test_count_refuses_a_scale_out_of_range(tmp_path, spot_model, bad):
    img = write_png(tmp_path / "a.png", squares_image([(24, 24)]))
    one_line_error(
        run_cli("count", str(img), "--model", str(spot_model), f"--um-per-px={bad}"),
        "--um-per-px",
    )


def test_count_a_landmarks_model_gives_each_landmark_and_the_centroid_size(tmp_path):
    from tests.support.onnx_fixtures import colour_landmarks_model, landmark_image

    model = onnx_fixtures.write(tmp_path / "lm.onnx", colour_landmarks_model())
    img = write_png(tmp_path / "wing.png", landmark_image())
    proc = run_cli("count", str(img), "--model", str(model), "--json", "--overlay", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    obj = json.loads(proc.stdout)
    assert obj["task"] == "landmarks" and obj["counts"] == {} and obj["flags"] == []
    assert obj["landmarks"] == [[17.5, 9.5], [41.5, 37.5], [9.5, 49.5]]
    assert obj["landmark_names"] == ["humeral", "L3 tip", "L5 tip"]
    assert obj["centroid_size"] > 0 and obj["mirrored"] is False
    assert (tmp_path / "wing_overlay.png").stat().st_size > 0
    moved = write_png(tmp_path / "torn.png", landmark_image(dots=[(16, 8), (40, 36), None]))
    text = run_cli("count", str(moved), "--model", str(model)).stdout.decode()
    assert "2/3 landmarks" in text and "WARNING" in text and "landmark is unsure" in text
