"""`evaluate` on a landmarks folder as a user runs it, with a real landmarks model."""

from __future__ import annotations

import json

import cv2
import numpy as np

from tests.conftest import run_cli, write_png
from tests.support import onnx_fixtures
from tests.support.cli_checks import one_line_error
from tests.support.onnx_fixtures import LANDMARK_DOTS, landmark_image


def folder(root, shift=0.0):
    (root / "images").mkdir(parents=True)
    rows = ["image,landmark,x,y"]
    for i in range(3):
        write_png(root / "images" / f"w{i}.png", landmark_image((64, 64), grey=110))
        for k, (x, y) in enumerate(LANDMARK_DOTS):
            rows.append(f"w{i}.png,{k + 1},{x + 1.5 + shift},{y + 1.5}")
    (root / "landmarks.csv").write_text("\n".join(rows) + "\n")
    return root


def test_evaluate_scores_each_landmark_and_writes_overlays(tmp_path):
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    root = folder(tmp_path / "wings", shift=3.0)
    r = run_cli("evaluate", str(root), "--model", str(model), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["images"] == 3 and out["per_landmark_px"] == [3.0, 3.0, 3.0]
    assert out["not_found"] == 0 and out["centroid_size_error_pct"] < 1e-6
    # each image's landmarks as placed: the dots' centres (the folder's are 3 px to the right)
    want = [[x + 1.5, y + 1.5] for x, y in LANDMARK_DOTS]
    assert all(np.allclose(r["landmarks"], want, atol=0.01) for r in out["per_image"])
    text = run_cli(
        "evaluate", str(root), "--model", str(model), "--overlays", str(tmp_path / "ov")
    ).stdout.decode()
    assert "mean landmark error 3.00 px" in text and "humeral" not in text
    assert sorted(p.name for p in (tmp_path / "ov").iterdir())[0] == "w0_overlay.png"


def test_evaluate_refuses_a_model_of_another_task_or_landmark_count(tmp_path):
    root = folder(tmp_path / "wings")
    areas = onnx_fixtures.write(tmp_path / "a.onnx", onnx_fixtures.colour_areas_model())
    one_line_error(run_cli("evaluate", str(root), "--model", str(areas)), "a areas model")
    lines = (root / "landmarks.csv").read_text().splitlines()
    extra = [*lines, "w0.png,4,1,1"]
    (root / "landmarks.csv").write_text("\n".join(extra) + "\n")
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    one_line_error(run_cli("evaluate", str(root), "--model", str(model)), "places 3 landmarks")


def test_train_says_how_well_even_when_int8_is_refused_and_warns_of_a_weak_model(tmp_path):
    from tests.support.wing_folders import wing_folder

    root = wing_folder(tmp_path / "wings", 4)
    out = tmp_path / "w.onnx"
    r = run_cli("train", str(root), "--out", str(out), "--steps", "20")
    text = r.stdout.decode()
    assert r.returncode in (0, 1), r.stderr
    assert "on its training images" in text and "% of the wing length" in text
    assert "did NOT learn to place the landmarks" in text  # 20 steps learn nothing
    assert (tmp_path / "w.float.onnx").exists()
    if r.returncode == 1:
        assert "use the float model" in r.stderr.decode() and not out.exists()
    obj = json.loads(
        run_cli(
            "count",
            str(root / "images" / "w0.png"),
            "--model",
            str(tmp_path / "w.float.onnx"),
            "--json",
        ).stdout
    )
    assert "did not learn to place" in obj["warning"]
    store = str(tmp_path / "store")
    r = run_cli("model", "install", str(tmp_path / "w.float.onnx"), "--store", store)
    one_line_error(r, "did NOT learn to place its landmarks: train it longer")
    r = run_cli("model", "install", str(tmp_path / "w.float.onnx"), "--store", store, "--force")
    assert r.returncode == 0 and b"did NOT learn to place its landmarks" in r.stderr


def test_model_list_names_a_landmarks_model_by_its_landmark_count(tmp_path):
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    store = tmp_path / "store"
    r = run_cli("model", "install", str(model), "--store", str(store))
    assert r.returncode == 0, r.stderr
    line = run_cli("model", "list", "--store", str(store)).stdout.decode().splitlines()[1]
    assert "colour-landmarks" in line and "3 landmarks" in line and "humeral" not in line
    assert line.split(" KB ")[1].split()[0] == "landmarks"  # the training column
    trained = onnx_fixtures.colour_landmarks_model(
        metrics={"learnt": True, "train_error_px": 3.54, "train_error_pct_wing": 0.7}
    )
    r = run_cli("model", "install", str(onnx_fixtures.write(tmp_path / "t.onnx", trained)),
                "--store", str(store))  # fmt: skip
    assert r.returncode == 0, r.stderr
    line = run_cli("model", "list", "--store", str(store)).stdout.decode().splitlines()[1]
    assert "landmarks, train error 3.54 px" in line  # newest first
    listed = json.loads(run_cli("model", "list", "--store", str(store), "--json").stdout)
    assert [m["train_error_px"] for m in listed["models"]] == [3.54, None]


def test_evaluate_scores_mirrored_and_turned_copies(tmp_path):
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    root = folder(tmp_path / "wings")
    r = run_cli("evaluate", str(root), "--model", str(model), "--mirror", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mirror"] is True and out["turn_degrees"] is None and not out["turn_random"]
    assert out["mean_px"] < 0.01 and out["not_found"] == 0  # the dots land on the cells
    r = run_cli(
        "evaluate", str(root), "--model", str(model), "--turn", "30", "--overlays", str(tmp_path)
    )
    assert r.returncode == 0, r.stderr
    assert "(turned 30 deg)" in r.stdout.decode()
    from device.core.imageio import read_rgb

    assert read_rgb(tmp_path / "w0_overlay.png").shape[:2] == (88, 88)  # the canvas enlarged
    r = run_cli("evaluate", str(root), "--model", str(model), "--turn", "random", "--json")
    out = json.loads(r.stdout)
    assert out["turn_random"] is True and out["turn_degrees"] is None
    angles = [row["turn_degrees"] for row in out["per_image"]]
    assert all(0 <= v < 360 for v in angles) and len(set(angles)) == len(angles)  # its own each
    r = run_cli("evaluate", str(root), "--model", str(model), "--turn", "-90", "--json")
    assert json.loads(r.stdout)["turn_degrees"] == -90  # as given, not 270
    r = run_cli("evaluate", str(root), "--model", str(model), "--turn", "-90")
    assert "(turned -90 deg)" in r.stdout.decode()
    one_line_error(run_cli("evaluate", str(root), "--model", str(model), "--turn", "x"), "x")


def test_turn_and_mirror_are_for_landmarks_folders(tmp_path):
    (tmp_path / "f" / "images").mkdir(parents=True)
    write_png(tmp_path / "f" / "images" / "a.png", landmark_image())
    (tmp_path / "f" / "points.csv").write_text("image,x,y\na.png,1,1\n")
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    r = run_cli("evaluate", str(tmp_path / "f"), "--model", str(model), "--mirror")
    one_line_error(r, "error: --mirror: for landmarks folders")
    r = run_cli("evaluate", str(tmp_path / "nothing"), "--model", str(model), "--turn", "9")
    one_line_error(r, "nothing")  # the folder's own error first
    assert "for landmarks folders" not in r.stderr.decode()


def test_a_turned_copy_over_the_pixel_limit_is_refused(tmp_path):
    """A 1x12000 strip turned 45 degrees needs an 8487x8487 canvas, over the 64 Mpx an image
    may have (checked on files as read, and on turned copies: a 105-byte file took 1.2 GB)."""
    root = tmp_path / "strip"
    (root / "images").mkdir(parents=True)
    write_png(root / "images" / "s.png", np.zeros((1, 12000, 3), np.uint8))
    (root / "landmarks.csv").write_text(
        "image,landmark,x,y\ns.png,1,1,0\ns.png,2,50,0\ns.png,3,90,0\n"
    )
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    r = run_cli("evaluate", str(root), "--model", str(model), "--turn", "45")
    one_line_error(r, "s.png: turned by 45 degrees it needs a")


def test_turn_is_refused_on_a_folder_taken_as_an_areas_folder(tmp_path):
    root = folder(tmp_path / "both")
    (root / "masks").mkdir()
    cv2.imwrite(str(root / "masks" / "w0.png"), np.zeros((64, 64), np.uint8))
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    r = run_cli("evaluate", str(root), "--model", str(model), "--turn", "30", "--mirror")
    one_line_error(r, "--turn and --mirror: for landmarks folders")


def test_a_folder_name_too_long_for_the_filesystem_is_one_line(tmp_path):
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    r = run_cli("evaluate", str(tmp_path / ("x" * 5000)), "--model", str(model))
    one_line_error(r, "File name too long")


def test_evaluate_says_when_the_model_did_not_learn(tmp_path):
    """`train` marked it not learnt: every result says so, evaluate's too (text and JSON)."""
    model = onnx_fixtures.write(
        tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model(metrics={"learnt": False})
    )
    root = folder(tmp_path / "wings")
    r = run_cli("evaluate", str(root), "--model", str(model), "--json")
    assert r.returncode == 0, r.stderr
    assert "did not learn to place its landmarks" in json.loads(r.stdout)["model_warning"]
    assert "warning" in r.stderr.decode() and "did not learn" in r.stderr.decode()
    fine = onnx_fixtures.write(tmp_path / "ok.onnx", onnx_fixtures.colour_landmarks_model())
    r = run_cli("evaluate", str(root), "--model", str(fine), "--json")
    assert json.loads(r.stdout)["model_warning"] is None and "warning" not in r.stderr.decode()
