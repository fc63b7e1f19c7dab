"""Landmark scores with plain arrays, and the turned copies the benchmark scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from export.landmark_evaluate import turned
from export.landmark_metrics import score_landmarks, wing_length

TRUTH = np.array([[10.0, 10.0], [110.0, 10.0], [60.0, 50.0]])


def test_wing_length_is_the_pair_farthest_apart_on_average():
    length, pair = wing_length([TRUTH, TRUTH + 5])
    assert length == pytest.approx(100.0) and pair == (0, 1)


def test_scores_of_known_errors():
    pred = TRUTH + [[3.0, 4.0], [0.0, 0.0], [0.0, 0.0]]  # landmark 1 off by 5 px
    missing = TRUTH.copy()
    missing[2] = np.nan
    s = score_landmarks([pred, missing], [TRUTH, TRUTH], ["a", "b", "c"])
    assert s.per_landmark_px == pytest.approx([2.5, 0.0, 0.0])
    assert s.mean_px == pytest.approx(5 / 5) and s.not_found == 1
    assert s.mean_pct_wing == pytest.approx(1.0)  # 1 px of a 100 px wing
    assert s.p90_px[0] == pytest.approx(4.5)
    assert s.centroid_size_error_pct > 0 and s.procrustes > 0


def test_a_perfect_prediction_scores_zero():
    s = score_landmarks([TRUTH * 2], [TRUTH * 2], ["a", "b", "c"])
    assert s.mean_px == 0 and s.centroid_size_error_pct == 0
    assert s.procrustes == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize(("angle", "mirror"), [(90, False), (33, True), (200, False)])
def test_turned_copies_keep_the_whole_image_and_move_the_landmarks(angle, mirror):
    img = np.zeros((48, 64, 3), np.uint8)
    pts = np.array([[10.0, 12.0], [50.0, 30.0]])
    for x, y in pts.astype(int):
        img[y, x] = 255
    out, moved = turned(img, pts, angle, mirror)
    assert out.shape[0] >= 48 and out.shape[1] >= 48
    for x, y in moved:
        patch = out[int(round(y)) - 1 : int(round(y)) + 2, int(round(x)) - 1 : int(round(x)) + 2]
        assert patch.max() > 60


def test_hand_placed_landmarks_on_one_point_are_skipped_not_a_crash():
    same = np.zeros((3, 2))
    s = score_landmarks([TRUTH, same], [TRUTH, same], ["a", "b", "c"])
    assert s.centroid_size_error_pct == 0 and np.isfinite(s.procrustes)


def test_a_torn_wing_of_two_landmarks_does_not_stop_the_shape_limits(tmp_path):
    from export.landmark_train import shape_params
    from export.landmarks_folder import read_landmarks_folder
    from tests.support.wing_folders import wing_folder

    root = wing_folder(tmp_path / "f", 4)
    lines = (root / "landmarks.csv").read_text().splitlines()
    (root / "landmarks.csv").write_text(
        "\n".join(ln for ln in lines if not ln.startswith("w0.png,3,")) + "\n"
    )
    p = shape_params(read_landmarks_folder(root))
    assert p.mean_shape.shape == (3, 2) and 0.05 <= p.max_distance <= 2.0


UPRIGHT, ACROSS = (48, 64), (64, 48)


@pytest.mark.parametrize(
    ("angle", "hw"),
    [(0, UPRIGHT), (180, UPRIGHT), (360, UPRIGHT), (90, ACROSS), (-90, ACROSS), (270, ACROSS)],
)
def test_a_quarter_turn_keeps_the_canvas_exact(angle, hw):
    """cos(180 deg) lies a hair from -1: the canvas must not grow a pixel (and shift by half)."""
    img = np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3).astype(np.uint8)
    pts = np.array([[10.0, 12.0]])
    out, moved = turned(img, pts, angle)
    assert out.shape[:2] == hw
    if angle in (0, 360):
        assert np.array_equal(out, img) and np.allclose(moved, pts)


def test_scores_of_a_landmark_never_found_are_null_in_json():
    truths = [np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])] * 2
    preds = [np.array([[0.0, 0.0], [10.0, 0.0], [np.nan, np.nan]])] * 2
    out = score_landmarks(preds, truths, ["1", "2", "3"]).to_json()
    assert out["per_landmark_px"][2] is None and out["per_landmark_px"][0] == 0.0
    json.dumps(out, allow_nan=False)  # strict JSON: no NaN anywhere
