"""The areas task: pure decoding with plain arrays, the detector seam, a real ONNX areas model."""

from __future__ import annotations

import numpy as np
import pytest

from device.core.errors import ModelError
from device.measuring.area_meter import AreaMeter
from device.measuring.areas import class_map, class_shares, mm2
from device.measuring.counter import Counter
from device.measuring.detector import open_detector, open_detector_file
from tests.support import onnx_fixtures
from tests.support.onnx_fixtures import colour_image


def test_scores_become_a_class_per_frame_pixel_with_the_boundary_where_scores_cross():
    # 2 classes over 4 cells (stride 4, a 16-pixel-wide input): class 1 wins in the right half.
    scores = np.zeros((2, 1, 4), np.float32)
    scores[1] = [[-1.0, -1.0, 1.0, 1.0]]
    cmap = class_map(scores, 4, (4, 16), (4, 16))
    assert cmap.shape == (4, 16) and cmap.dtype == np.uint8
    assert (cmap[:, :8] == 0).all() and (cmap[:, 8:] == 1).all()


def test_the_class_map_is_at_the_frame_size_when_the_model_saw_it_smaller():
    scores = np.zeros((3, 4, 4), np.float32)
    scores[2, :, :2] = 5.0  # the left half: class 2, the right half: background
    scores[0, :, 2:] = 5.0
    cmap = class_map(scores, 4, (16, 16), (40, 40))  # the frame was shown at 0.4x
    assert cmap.shape == (40, 40)
    assert (cmap[:, :18] == 2).all() and (cmap[:, 22:] == 0).all()


def test_padding_cells_beyond_the_frame_are_not_counted():
    # a 10-pixel-wide small frame padded to 16: the last cell row/column is padding
    scores = np.zeros((2, 4, 4), np.float32)
    scores[1, :, 3] = 9.0  # only the padding column says class 1
    cmap = class_map(scores, 4, (10, 10), (10, 10))
    frac, pix = class_shares(cmap, ["x"])
    assert pix["x"] < 10 * 3  # at most the blend into the last real pixels
    assert frac["x"] < 0.3


def test_class_shares_are_fractions_of_the_whole_frame_and_leave_background_out():
    cmap = np.zeros((10, 10), np.uint8)
    cmap[:5, :] = 1
    cmap[5:, :2] = 2
    frac, pix = class_shares(cmap, ["gland", "stroma"])
    assert frac == {"gland": 0.5, "stroma": 0.1}
    assert pix == {"gland": 50, "stroma": 10}


def test_square_millimetres_from_micrometres_per_pixel():
    assert mm2({"gland": 1_000_000}, 0.5) == {"gland": 0.25}


@pytest.mark.parametrize("bad", [np.full((2, 2, 2), np.nan), np.zeros((1, 2, 2)), np.zeros((2, 2))])
def test_scores_that_are_not_an_areas_output_are_refused(bad):
    with pytest.raises(ValueError):
        class_map(bad.astype(np.float32), 4, (8, 8), (8, 8))


def test_the_seam_opens_each_model_with_its_own_task_detector(tmp_path, spot_model, areas_model):
    assert isinstance(open_detector_file(spot_model), Counter)
    det = open_detector_file(areas_model)
    assert isinstance(det, AreaMeter) and det.task == "areas"
    assert det.info.classes == ["red", "green"]


def test_an_areas_model_measures_each_class_share_of_the_frame(areas_model):
    det = open_detector_file(areas_model)
    img = colour_image((96, 128), red=(0, 0, 64, 48), green=(64, 48, 32, 48))
    res = det.measure(img)
    assert res.task == "areas" and res.counts == {} and res.points == []
    assert res.areas == pytest.approx({"red": 0.25, "green": 0.125}, abs=0.01)
    assert res.pixels["red"] == pytest.approx(64 * 48, rel=0.05)
    assert res.class_map is not None and res.class_map.shape == (96, 128)
    assert res.class_map[10, 10] == 1 and res.class_map[70, 80] == 2 and res.class_map[10, 120] == 0


def test_a_counting_model_says_its_task_and_measures_counts(spot_model):
    from tests.conftest import squares_image

    res = open_detector_file(spot_model).measure(squares_image([(40, 40)]))
    assert res.task == "count" and res.counts == {"spot": 1} and res.areas == {}


def test_an_unknown_task_is_refused_naming_the_file_and_the_task(tmp_path):
    meta = onnx_fixtures.metadata(["spot"], **{"scopecount.task": "landmarks-v9"})
    data = onnx_fixtures.bright_spot_model(meta=meta)
    with pytest.raises(ModelError, match=r"m\.onnx: metadata scopecount\.task='landmarks-v9'"):
        open_detector(data, "m.onnx")


def test_a_count_model_with_an_areas_shaped_output_is_refused(tmp_path):
    # an areas model's output (classes + 1 maps) under a count model's metadata
    data = onnx_fixtures.bright_spot_model(["a"], out_channels=2)
    with pytest.raises(ModelError, match="does not fit 1 classes"):
        open_detector(data, "x.onnx")


def test_an_areas_model_with_too_few_score_maps_is_refused():
    meta = onnx_fixtures.metadata(["a", "b"], **{"scopecount.task": "areas"})
    data = onnx_fixtures.bright_spot_model(["a", "b"], meta=meta)  # 2 maps for 2 classes
    with pytest.raises(ModelError, match="does not fit 2 classes"):
        open_detector(data, "y.onnx")


def test_a_class_name_starting_with_an_apostrophe_is_refused_in_a_model_file():
    # "'=x" would be written to a CSV as it is and read back as "=x": another class
    meta = onnx_fixtures.metadata(["'=x"])
    with pytest.raises(ModelError, match=r"scopecount\.classes\[0\] starts with an apostrophe"):
        open_detector(onnx_fixtures.bright_spot_model(["'=x"], meta=meta), "q.onnx")


def test_the_share_between_classes_counts_close_cells_within_the_frame_only():
    from device.measuring.areas import uncertain_share

    scores = np.zeros((2, 4, 6), np.float32)
    scores[1] = 8.0  # sure: class 1 everywhere
    scores[1, :, :3] = 0.5  # the left half close to background (softmax 0.62 against 0.38)
    assert uncertain_share(scores, 4, (16, 24)) == pytest.approx(0.5)
    # cells beyond the frame (padding) are not the frame's: only the left 2 columns are
    assert uncertain_share(scores, 4, (16, 8)) == pytest.approx(1.0)
    assert uncertain_share(scores, 4, (16, 24), margin=0.1) == 0.0


def test_a_model_that_gives_probabilities_is_read_as_such_not_softmaxed_again():
    from device.measuring.areas import uncertain_share

    p = np.zeros((3, 4, 6), np.float32)
    p[1] = 0.98  # sure of class 1 everywhere ...
    p[0] = p[2] = 0.01
    p[:, :, :3] = np.array([0.3, 0.4, 0.3], np.float32)[:, None, None]  # ... but the left half
    # a softmax of these would put every cell between classes (e^0.98 against e^0.01: 0.57)
    assert uncertain_share(p, 4, (16, 24)) == pytest.approx(0.5)


def test_a_frame_mostly_between_classes_is_flagged_uncertain(areas_model):
    det = open_detector_file(areas_model)
    sure = colour_image((96, 128), red=(0, 0, 64, 48), green=(64, 48, 32, 48))
    res = det.measure(sure)
    assert res.flags == [] and res.uncertain == 0.0
    dull = sure.copy()
    dull[:72, :, 0] = 80  # dull red over the top 3/4: between red and background (not green)
    res = det.measure(dull)
    between = (72 * 128 - 24 * 32) / (96 * 128)  # less the green rectangle's top half
    assert res.flags == ["uncertain"] and res.uncertain == pytest.approx(between, abs=0.01)
    assert res.record_fields(det.info.classes)["uncertain"] == res.uncertain
