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
