import json
import math

import numpy as np
import pytest

from export.area_metrics import confusion, fractions, iou_dice, score_images

# Three labels (0 background, 1, 2); the last pixel is unlabelled and must not count.
TRUTH = np.array([[0, 0, 1, 1], [1, 1, 2, -1]])
PRED = np.array([[0, 1, 1, 1], [1, 2, 2, 0]])
# (truth, pred) pairs: (0,0) (0,1) (1,1) (1,1) (1,1) (1,2) (2,2)
CONF = [[1, 1, 0], [0, 3, 1], [0, 0, 1]]


def test_confusion_rows_are_truth_and_unlabelled_is_skipped():
    conf = confusion(PRED, TRUTH, 3)
    assert conf.tolist() == CONF
    assert conf.sum() == 7


def test_confusion_refuses_bad_input():
    with pytest.raises(ValueError, match="shape"):
        confusion(PRED[:, :3], TRUTH, 3)
    with pytest.raises(ValueError, match="outside"):
        confusion(PRED, TRUTH, 2)  # truth holds a 2
    with pytest.raises(ValueError, match="outside"):
        confusion(np.where(PRED == 2, 5, PRED), TRUTH, 3)


def test_iou_dice_by_hand():
    iou, dice = iou_dice(np.array(CONF))
    # class 0: tp 1 fp 0 fn 1; class 1: tp 3 fp 1 fn 1; class 2: tp 1 fp 1 fn 0
    assert iou == pytest.approx([1 / 2, 3 / 5, 1 / 2])
    assert dice == pytest.approx([2 / 3, 6 / 8, 2 / 3])


def test_iou_dice_nan_only_for_a_class_nowhere():
    conf = np.array([[2, 0, 0], [0, 0, 1], [0, 0, 0]])  # class 1 missed, class 2 only predicted
    iou, dice = iou_dice(conf)
    assert iou.tolist() == [1.0, 0.0, 0.0] and dice.tolist() == [1.0, 0.0, 0.0]
    iou, dice = iou_dice(np.array([[4, 0], [0, 0]]))
    assert dice[0] == 1.0 and math.isnan(dice[1]) and math.isnan(iou[1])


def test_fractions_are_of_the_whole_frame():
    assert fractions(np.array([[0, 0, 1, -1]]), 3).tolist() == [0.5, 0.25, 0.0]
    assert fractions(TRUTH, 3) == pytest.approx([2 / 8, 4 / 8, 1 / 8])
    with pytest.raises(ValueError):
        fractions(TRUTH, 2)


def three_images() -> tuple[list[np.ndarray], list[np.ndarray]]:
    truths = [
        np.array([[1, 1, 0, 0]]),  # pred below: dice 2/3, fractions 50 vs 25
        np.array([[0, 0, 0, 0]]),  # class in neither: no Dice, fraction error 0
        np.array([[1, 1, 1, -1]]),  # over labelled pixels: 100 vs 66.7 (whole frame: 75 vs 75)
    ]
    preds = [np.array([[1, 0, 0, 0]]), np.array([[0, 0, 0, 0]]), np.array([[1, 1, 0, 1]])]
    return preds, truths


def test_score_images_by_hand():
    preds, truths = three_images()
    s = score_images(preds, truths, ["gland"])
    assert s.classes == ["gland"] and s.n_images == 3
    assert s.dice["gland"] == pytest.approx((2 / 3 + 0.8) / 2)  # the empty image is skipped
    # pooled confusion [[6, 0], [2, 3]]: tp 3, fp 0, fn 2
    assert s.pooled_dice["gland"] == pytest.approx(6 / 8)
    assert s.pooled_iou["gland"] == pytest.approx(3 / 5)
    assert s.fraction_errors["gland"] == pytest.approx([25.0, 0.0, 100 / 3])
    assert s.fraction_error["gland"] == pytest.approx((25 + 0 + 100 / 3) / 3)
    # true fractions 50, 0, 100: mean 50, so the baseline is off by 0, 50, 50
    assert s.baseline_error["gland"] == pytest.approx(100 / 3)


def test_score_images_two_classes_keep_their_own_numbers():
    s = score_images([PRED], [TRUTH], ["a", "b"])
    assert s.pooled_iou == pytest.approx({"a": 3 / 5, "b": 1 / 2})
    assert s.dice == pytest.approx({"a": 6 / 8, "b": 2 / 3})
    # over the 7 labelled pixels: a is 4/7 on both sides, b is 1/7 true and 2/7 predicted
    assert s.fraction_error == pytest.approx({"a": 0.0, "b": 100 / 7})
    assert s.baseline_error == pytest.approx({"a": 0.0, "b": 0.0})  # one image is its own mean


def test_an_image_with_nothing_labelled_is_left_out_of_the_means():
    preds, truths = three_images()
    preds.append(np.array([[1, 1, 1, 1]]))
    truths.append(np.array([[-1, -1, -1, -1]]))
    s = score_images(preds, truths, ["gland"])
    assert math.isnan(s.fraction_errors["gland"][3])
    assert s.fraction_error["gland"] == pytest.approx((25 + 0 + 100 / 3) / 3)
    assert s.dice["gland"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert s.n_images == 4


def test_no_images_and_json():
    s = score_images([], [], ["gland"])
    assert math.isnan(s.dice["gland"]) and s.fraction_errors["gland"] == []
    out = json.loads(json.dumps(score_images([], [], ["gland"]).to_json(), allow_nan=False))
    assert out["dice"] == {"gland": None} and out["n_images"] == 0
    preds, truths = three_images()
    out = score_images(preds, truths, ["gland"]).to_json()
    assert out["pooled_dice"] == {"gland": 0.75}


def test_mismatched_lists_refused():
    with pytest.raises(ValueError, match="2 predictions for 1 truths"):
        score_images([PRED, PRED], [TRUTH], ["a", "b"])
