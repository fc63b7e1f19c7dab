"""The command line with areas: `count --json` and `--overlay`, `evaluate` on an areas folder,
`model install` into a store, each as a user runs it (a separate process)."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest

from tests.conftest import run_cli, write_png
from tests.support.onnx_fixtures import colour_areas_model, colour_image


def areas_folder(root, n: int = 3):
    """Synthetic sections with known areas: red and green rectangles, masks 0/1/2/3 with a
    classes.csv (1 background, 2 red, 3 green)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        red, green = (0, 0, 32 + 16 * i, 48), (64, 48, 32, 16 + 8 * i)
        img = colour_image((96, 128), red=red, green=green)
        write_png(root / "images" / f"s{i}.png", img)
        mask = np.ones((96, 128), np.uint8)
        mask[img[:, :, 0] > 0] = 2
        mask[img[:, :, 1] > 0] = 3
        cv2.imwrite(str(root / "masks" / f"s{i}.png"), mask)
    (root / "classes.csv").write_text("value,class\n1,background\n2,red\n3,green\n")
    return root


def test_count_json_says_the_task_and_each_class_share(tmp_path, areas_model):
    img = write_png(tmp_path / "a.png", colour_image((96, 128), red=(0, 0, 64, 48)))
    r = run_cli(
        "count", str(img), "--model", str(areas_model), "--json", "--overlay", str(tmp_path / "ov")
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["task"] == "areas" and out["counts"] == {} and out["points"] == []
    assert out["areas"]["red"] == pytest.approx(0.25, abs=0.01) and out["areas"]["green"] == 0
    assert out["pixels"]["red"] == pytest.approx(64 * 48, rel=0.05)
    pic = cv2.imread(str(tmp_path / "ov" / "a_overlay.png"))
    assert pic is not None and pic.shape == (96, 128, 3)


def test_count_text_gives_percentages(tmp_path, areas_model):
    img = write_png(tmp_path / "a.png", colour_image((96, 128), red=(0, 0, 64, 48)))
    r = run_cli("count", str(img), "--model", str(areas_model))
    assert r.returncode == 0, r.stderr
    # a quarter of the view, the edge a pixel out (the fixture scores background 0.3, red 1)
    assert re.search(r": red 2[56]\.\d%, green 0\.0%", r.stdout.decode())


def test_evaluate_an_areas_model_on_an_areas_folder(tmp_path, areas_model):
    folder = areas_folder(tmp_path / "sections")
    plot = tmp_path / "scatter.png"
    r = run_cli(
        "evaluate",
        str(folder),
        "--model",
        str(areas_model),
        "--json",
        "--plot",
        str(plot),
        "--overlays",
        str(tmp_path / "ov"),
    )
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    assert m["images"] == 3
    assert m["dice"]["red"] > 0.95 and m["dice"]["green"] > 0.9
    assert m["fraction_error"]["red"] < 1.0  # percentage points
    assert plot.exists() and len(list((tmp_path / "ov").glob("*_overlay.png"))) == 3


def test_evaluate_says_which_images_the_bench_would_flag_uncertain(tmp_path, areas_model):
    folder = areas_folder(tmp_path / "sections")
    dull = colour_image((96, 128))
    dull[:, :, 0] = 80  # between red and background everywhere: the model cannot tell
    write_png(folder / "images" / "s1.png", dull)
    args = ["evaluate", str(folder), "--model", str(areas_model), "--plot", str(tmp_path / "p.png")]
    m = json.loads(run_cli(*args, "--json").stdout)
    assert m["flagged_uncertain"] == 1
    assert [p["flags"] for p in m["per_image"]] == [[], ["uncertain"], []]
    # the rest: the two sure images' error, not the dull one's (read all red, a fifth is)
    assert m["fraction_error_unflagged"]["red"] < 1.0 < m["fraction_error"]["red"]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    assert (
        "flagged uncertain (the bench leaves them out of its summaries): 1 of 3 images (s1.png)"
        in (r.stdout.decode())
    )
    write_png(folder / "images" / "s1.png", colour_image((96, 128)))  # sure again: none flagged
    r = run_cli(*args)
    assert "flagged uncertain (the bench leaves them out of its summaries): none of 3" in (
        r.stdout.decode()
    )


def test_evaluate_a_counting_model_on_an_areas_folder_is_refused(tmp_path, spot_model):
    folder = areas_folder(tmp_path / "sections")
    r = run_cli("evaluate", str(folder), "--model", str(spot_model))
    assert r.returncode == 2
    err = r.stderr.decode()
    assert "a count model" in err and "areas folder" in err


def test_model_install_takes_an_areas_model(tmp_path, areas_model):
    store = tmp_path / "store"
    r = run_cli("model", "install", str(areas_model), "--store", str(store))
    assert r.returncode == 0, r.stderr
    r = run_cli("model", "list", "--store", str(store))
    assert r.returncode == 0 and "colour-areas" in r.stdout.decode()


def test_benchmark_times_an_areas_model(areas_model):
    r = run_cli("benchmark", "--model", str(areas_model), "--threads", "1", "--repeats", "1")
    assert r.returncode == 0, r.stderr
    rows = [ln for ln in r.stdout.decode().splitlines() if ln.startswith("| colour-areas")]
    assert len(rows) == 2  # 640x480 and 1280x960


def test_evaluate_matches_class_names_in_any_case_and_refuses_none_in_common(tmp_path):
    folder = areas_folder(tmp_path / "sections")
    (folder / "classes.csv").write_text("value,class\n1,background\n2,Red\n3,GREEN\n")
    model = tmp_path / "m.onnx"
    model.write_bytes(colour_areas_model())
    r = run_cli("evaluate", str(folder), "--model", str(model), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["dice"]["Red"] > 0.95
    (folder / "classes.csv").write_text("value,class\n1,background\n2,stroma\n3,fat\n")
    r = run_cli("evaluate", str(folder), "--model", str(model))
    err = r.stderr.decode()
    assert r.returncode == 2 and "no class in common" in err and len(err.splitlines()) == 1


def test_evaluate_a_counting_folder_with_an_areas_model_says_so(tmp_path, areas_model):
    from tests.conftest import squares_image

    (tmp_path / "pts" / "images").mkdir(parents=True)
    write_png(tmp_path / "pts" / "images" / "a.png", squares_image([(40, 40)]))
    (tmp_path / "pts" / "points.csv").write_text("image,x,y,label\na.png,40,40,egg\n")
    r = run_cli("evaluate", str(tmp_path / "pts"), "--model", str(areas_model))
    err = r.stderr.decode()
    assert r.returncode == 2 and "an areas model" in err and "points.csv" in err


def test_count_with_a_scale_gives_square_millimetres(tmp_path, areas_model):
    img = write_png(tmp_path / "a.png", colour_image((96, 128), red=(0, 0, 64, 48)))
    r = run_cli("count", str(img), "--model", str(areas_model), "--json", "--um-per-px", "10")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    # 10 um pixels are 1e-4 mm² each
    assert out["mm2"]["red"] == pytest.approx(out["pixels"]["red"] * 1e-4, rel=1e-3)
    assert "per_mm2" not in out
    text = run_cli("count", str(img), "--model", str(areas_model), "--um-per-px", "10").stdout
    assert re.search(r"red 0\.3\d* mm²", text.decode())
