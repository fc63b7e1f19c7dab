"""The areas benchmark's table: the median image's error beside the mean (a few hard images
carry the mean)."""

from __future__ import annotations

from tests.benchmarks.areas import table


def _row(split: int, errors: list[float]) -> dict:
    known = [e for e in errors if e == e]
    n = sum(known) / len(known)
    return {
        "split": split,
        "method": "m",
        "fraction_error": {"gland": n},
        "fraction_errors": {"gland": errors},
        "dice": {"gland": 0.9},
        "pooled_dice": {"gland": 0.9},
        "pooled_iou": {"gland": 0.8},
        "baseline_error": {"gland": 12.0},
        "train_s": 1,
    }


def test_the_table_gives_the_median_image_beside_the_mean():
    rows = [_row(0, [1.0, 2.0, 30.0]), _row(1, [3.0, 4.0, float("nan"), 5.0])]
    line = next(s for s in table(rows, ["gland"], "2 splits").splitlines() if s.startswith("| m "))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == "7.500 ± 3.500"  # the means 11 and 4
    assert cells[2] == "3.00 ± 1.00"  # the medians 2 and 4 (an unlabelled image left out)


def test_a_draw_whose_int8_is_refused_is_scored_with_the_float_model(
    tmp_path, monkeypatch, areas_model
):
    # A draw of few sections can train a model whose int8 moves the shares too far; `train`
    # then keeps the float model and says so. The benchmark scores that model and labels it
    # rather than losing a ten-minute run.
    import json
    import shutil

    from export.areas_folder import read_areas_folder
    from export.train_options import Int8Refused, TrainOptions
    from export.train_report import sidecar
    from tests.benchmarks import areas as bench
    from tests.cli.test_areas_cli import areas_folder

    def refused(train, out, opts, scale, fit_overrides=None):
        shutil.copy(areas_model, sidecar(out, ".float.onnx"))
        report = {"int8_vs_float_pp": 0.6, "macs_per_frame": 4.7e8, "input_scale": 0.75}
        sidecar(out, ".report.json").write_text(json.dumps(report))
        raise Int8Refused("int8 moves a class's share by 0.60 percentage points")

    monkeypatch.setattr(bench, "train_areas_on", refused)
    folder = read_areas_folder(areas_folder(tmp_path / "sections"))
    keep = tmp_path / "k" / "split0.onnx"
    scores, extra = bench.model_row(folder, folder, TrainOptions(), None, keep=keep)
    assert extra["quantization"] == "float (int8 refused)"
    assert extra["int8_vs_float_pp"] == 0.6
    assert scores.fraction_error["red"] < 1.0  # the colour model measures the sections
    assert keep.read_bytes() == areas_model.read_bytes()
    assert json.loads((tmp_path / "k" / "split0.test.json").read_text()) == [
        "s0.png",
        "s1.png",
        "s2.png",
    ]


def test_the_flagged_columns_leave_out_unlabelled_images_written_as_null():
    from tests.benchmarks.areas import flagged

    row = {"fraction_errors": {"g": [None, 2.0, 9.0]}, "flags": [[], [], ["uncertain"]]}
    assert flagged([row], "g") == ("1 of 3", "2.00")


def test_the_learning_curve_table_says_how_many_draws_are_float_models():
    from tests.benchmarks.area_curves import table as curve_table

    def row(draw: int, quantization: str) -> dict:
        return {
            "size": 6,
            "draw": draw,
            "kind": "scribbles",
            "fraction_error": {"gland": 10.0 + draw},
            "dice": {"gland": 0.7},
            "quantization": quantization,
        }

    text = curve_table([row(0, "int8"), row(1, "float (int8 refused)")], ["gland"])
    assert "| 6 | scribbles (1 of 2 float: int8 refused) | 10.50 ± 0.50 |" in text
