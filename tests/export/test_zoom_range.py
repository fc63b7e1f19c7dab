"""Each model's own zoom range: the zooms whose held-back error stays within max(4%, 1x + 3)."""

import math

import pytest

from export.zoom_range import ZoomRange, relative_errors, tolerance, trusted_range


def test_bone_marrow_at_0_7x_is_outside_its_range():
    # the figures a new user measured: 12.1% at 0.7x, 4.4% at 1x, 5.3% at 1.4x
    lo, hi = trusted_range({0.7: 0.121, 0.85: 0.06, 1.0: 0.044, 1.2: 0.05, 1.4: 0.053, 1.7: 0.2})
    assert 0.7 < lo < 0.85 and lo == pytest.approx(math.sqrt(0.7 * 0.85))
    assert 1.4 < hi < 1.7


def test_mosquito_eggs_keep_0_7x_and_1_4x():
    # 4.0% at 0.7x is 6.7x the 1x error, and fine: no single factor of the 1x error works
    lo, hi = trusted_range({0.5: 0.3, 0.7: 0.040, 1.0: 0.006, 1.4: 0.005, 2.0: 0.01})
    assert lo < 0.7 and hi == 2.0  # every zoom up to the grid's end passed: the end itself


def test_the_tolerance_is_the_floor_or_three_points_above_1x():
    assert tolerance(0.006) == 0.04 and tolerance(0.044) == pytest.approx(0.074)


def test_a_model_bad_everywhere_else_keeps_a_narrow_range_round_1x():
    lo, hi = trusted_range({0.85: 0.5, 1.0: 0.01, 1.2: 0.5})
    assert lo == pytest.approx(math.sqrt(0.85)) and hi == pytest.approx(math.sqrt(1.2))


def test_the_taught_zoom_is_required():
    with pytest.raises(ValueError):
        trusted_range({0.7: 0.1, 1.4: 0.1})


def test_relative_errors_skip_empty_images_and_give_the_spread():
    mean, se = relative_errors([10, 20, 0], [11, 18, 3])
    assert mean == pytest.approx(0.1) and se == pytest.approx(0.0)
    assert math.isnan(relative_errors([0], [1])[0])


def test_the_range_says_when_it_rests_on_few_images():
    zr = ZoomRange(0.77, 1.55, {1.0: 0.044}, {1.0: 0.01}, images=5)
    assert zr.noisy and "noisy" in zr.describe() and "0.77x to 1.55x" in zr.describe()
    assert zr.as_json()["errors"] == {"1": 0.044}


def _squares(root, n: int):
    """A counting folder of n images holding one square each."""
    from export.folder import read_folder
    from tests.conftest import squares_image, write_png

    rows = ["image,x,y,label"]
    for k in range(n):
        write_png(root / "images" / f"{k}.png", squares_image([(40, 40)]))
        rows.append(f"{k}.png,40,40,egg")
    (root / "points.csv").write_text("\n".join(rows) + "\n")
    return read_folder(root)


def test_only_images_at_the_main_zoom_are_held_back(tmp_path):
    from export.zoom_check import split

    folder = _squares(tmp_path, 8)
    for seed in range(5):
        parts = split(folder, seed, {"0.png", "1.png"})
        assert parts is not None
        rest, held = parts
        assert len(held) == 2 and not {"0.png", "1.png"} & set(held)
        assert sorted(rest + held) == sorted(s.name for s in folder.samples)
    assert split(folder.subset(["0.png", "1.png", "2.png"]), 0) is None  # too few to hold back


def test_train_notes_training_photographs_the_range_leaves_out(capsys):
    from export.zoom_check import say_left_out

    zr = ZoomRange(0.8, 1.3, {1.0: 0.02}, {1.0: 0.01}, 6)
    # main size 10 px; one photograph at 1.5x (outside), one at 1.2x (inside), the rest at 1x
    say_left_out(zr, (10.0, {"close\x1b[31m.jpg": 15.0, "near.jpg": 12.0, "a.jpg": None}))
    err = capsys.readouterr().err
    assert "leaves out 1 training image(s)" in err and "(1.50x)" in err
    assert "near.jpg" not in err and "\x1b" not in err  # a file name is data: escaped
    say_left_out(zr, (10.0, {"near.jpg": 12.0}))
    assert capsys.readouterr().err == ""


def test_a_range_not_measured_says_which_images_it_lacked(tmp_path, capsys):
    """4 images, only 2 at the main zoom: the message counts those, not all 4."""
    from export.train_options import TrainOptions
    from export.zoom_check import held_back_range

    sizes = (10.0, {"0.png": 15.0, "1.png": 15.0, "2.png": None, "3.png": None})
    opts = TrainOptions(sizes=sizes)
    assert held_back_range(_squares(tmp_path, 4), opts, lambda *a: None) is None
    err = capsys.readouterr().err
    assert "not measured (4 images, 2 at the folder's main zoom holding objects" in err, err
    assert "at least 4 images and 3 such" in err


def test_a_first_model_too_weak_at_1x_measures_no_range(tmp_path, monkeypatch, capsys):
    """Counting the held-back images 60% off at 1x, every zoom would pass its tolerance."""
    import types

    import export.zoom_check as zc
    from export.train_options import TrainOptions
    from export.zoom_range import ZoomRange

    weak = ZoomRange(0.5, 2.0, {0.7: 0.6, 1.0: 0.6, 1.4: 0.6}, {}, 2)
    monkeypatch.setattr(zc, "Counter", types.SimpleNamespace(from_file=lambda p: object()))
    monkeypatch.setattr(zc, "measure", lambda counter, samples, progress=None: weak)
    assert zc.held_back_range(_squares(tmp_path, 8), TrainOptions(), lambda *a: None) is None
    assert "60% off at the taught size: too weak" in capsys.readouterr().err


def test_a_first_model_whose_int8_was_refused_is_measured_as_float(tmp_path, monkeypatch):
    import types

    import export.zoom_check as zc
    from export.train_options import Int8Refused, TrainOptions
    from export.zoom_range import ZoomRange

    opened = []

    def refuse(folder, out, opts):
        raise Int8Refused("int8 counts differ")

    good = ZoomRange(0.7, 1.4, {0.7: 0.03, 1.0: 0.02, 1.4: 0.03}, {}, 2)
    monkeypatch.setattr(zc, "Counter", types.SimpleNamespace(from_file=opened.append))
    monkeypatch.setattr(zc, "measure", lambda counter, samples, progress=None: good)
    assert zc.held_back_range(_squares(tmp_path, 8), TrainOptions(), refuse) is good
    assert [p.name for p in opened] == ["held-back.float.onnx"]
