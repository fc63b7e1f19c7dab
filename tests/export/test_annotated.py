"""Which images of a training folder are annotated, and every reader honouring it."""

import json
from pathlib import Path

from export.annotate_guard import SaveRequest
from export.annotate_server import AnnotationStore
from export.folder import STATE_FILE, read_folder
from tests.conftest import run_cli, squares_image, write_png
from tests.support import onnx_fixtures


def half_done(root: Path) -> Path:
    """4 images, 1 annotated in `annotate` and marked done; 3 untouched (they do hold objects)."""
    for name in ("a.png", "b.png", "c.png", "d.png"):
        write_png(root / "images" / name, squares_image([(40, 40), (100, 60)]))
    (root / "points.csv").write_text("image,x,y,label\na.png,40,40,spot\na.png,100,60,spot\n")
    (root / STATE_FILE).write_text(json.dumps({"done": ["a.png"], "classes": ["spot"]}))
    return root


def test_untouched_images_are_left_out(tmp_path):
    f = read_folder(half_done(tmp_path))
    assert [s.name for s in f.samples] == ["a.png"]
    assert f.left_out == ["b.png", "c.png", "d.png"]
    assert "left out 3 image(s)" in f.left_out_note()
    assert len(read_folder(tmp_path, all_images=True).samples) == 4


def test_done_or_listed_empty_images_count_as_annotated(tmp_path):
    half_done(tmp_path)
    (tmp_path / STATE_FILE).write_text(json.dumps({"done": ["a.png", "b.png"]}))
    with open(tmp_path / "points.csv", "a") as f:
        f.write("c.png,,,\n")
    got = read_folder(tmp_path)
    assert [(s.name, s.count()) for s in got.samples] == [("a.png", 2), ("b.png", 0), ("c.png", 0)]
    assert got.left_out == ["d.png"]


def test_folder_of_another_tool_keeps_the_plain_contract(tmp_path):
    half_done(tmp_path)
    (tmp_path / STATE_FILE).unlink()
    f = read_folder(tmp_path)
    assert len(f.samples) == 4 and f.left_out == []


def test_once_annotate_saves_untouched_empty_images_wait_to_be_marked_done(tmp_path):
    half_done(tmp_path)
    (tmp_path / STATE_FILE).unlink()  # a folder made by another tool: every image annotated
    assert read_folder(tmp_path).left_out == []
    store = AnnotationStore(read_folder(tmp_path, all_images=True))
    assert [im["done"] for im in store.state()["images"]] == [False] * 4
    store.save(SaveRequest("b.png", [(40.0, 40.0, "spot")], 0, None, None))
    # annotate keeps its own "done" from now on: images with rows count, the rest are named
    got = read_folder(tmp_path)
    assert [s.name for s in got.samples] == ["a.png", "b.png"]
    assert got.left_out == ["c.png", "d.png"] and "mark them done" in got.left_out_note()


def test_annotate_keeps_listed_rows_of_other_images(tmp_path):
    half_done(tmp_path)
    with open(tmp_path / "points.csv", "a") as f:
        f.write("c.png,,,\n")
    store = AnnotationStore(read_folder(tmp_path, all_images=True))
    assert store.state()["images"][2]["done"]  # listed: shown as checked
    store.save(SaveRequest("b.png", [(40.0, 40.0, "spot")], 0, True, None))
    got = read_folder(tmp_path)
    assert [s.name for s in got.samples] == ["a.png", "b.png", "c.png"]


def test_evaluate_scores_only_annotated_images(tmp_path):
    folder = half_done(tmp_path / "f")
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model())
    proc = run_cli(
        "evaluate", str(folder), "--model", str(model), "--json", "--plot", str(tmp_path / "p.png")
    )
    assert proc.returncode == 0, proc.stderr.decode()
    m = json.loads(proc.stdout)
    assert m["images"] == 1 and m["mae"] == 0
    assert "left out 3 image(s)" in proc.stderr.decode()


def test_train_says_what_it_left_out(tmp_path):
    folder = half_done(tmp_path / "f")
    # only the done image counts, and it is marked done empty: nothing to learn, before training
    (folder / "points.csv").write_text("image,x,y,label\n")
    proc = run_cli("train", str(folder), "--out", str(tmp_path / "m.onnx"), timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "left out 3 image(s) not annotated yet" in err
    assert "Traceback" not in err
