import numpy as np
import pytest

from export.metrics import count_metrics, match_points, prf


def test_count_metrics():
    m = count_metrics([10, 20, 0], [12, 18, 1])
    assert m["mae"] == pytest.approx(5 / 3)
    assert m["bias"] == pytest.approx(1 / 3)
    assert m["mre"] == pytest.approx((0.2 + 0.1) / 2)
    assert m["rmse"] == pytest.approx(np.sqrt((4 + 4 + 1) / 3))


def test_count_metrics_rejects_mismatch():
    with pytest.raises(ValueError):
        count_metrics([1, 2], [1])


def test_match_points_one_to_one():
    t = np.array([[0, 0], [10, 0], [20, 0]])
    p = np.array([[1, 0], [1.5, 0], [30, 0]])
    assert match_points(t, p, radius=3) == (1, 2, 2)


def test_match_points_prefers_closest_pairs():
    t = np.array([[0, 0], [4, 0]])
    p = np.array([[3, 0], [5, 0]])
    # greedy by distance: (4,0)-(5,0) d=1 first, then (0,0)-(3,0) d=3
    assert match_points(t, p, radius=3) == (2, 0, 0)


def test_match_points_empty():
    assert match_points(np.zeros((0, 2)), np.zeros((3, 2)), 2) == (0, 3, 0)
    assert prf(0, 0, 0) == {"precision": None, "recall": None, "f1": None}
    # A model that predicts nothing has no precision (not 1.0) and finds none of the objects.
    assert prf(0, 0, 5) == {"precision": None, "recall": 0.0, "f1": 0.0}
    assert prf(0, 4, 0) == {"precision": 0.0, "recall": None, "f1": 0.0}
    assert prf(3, 1, 1)["f1"] == pytest.approx(0.75)


def test_mre_undefined_without_objects():
    assert count_metrics([0, 0], [1, 0])["mre"] is None
