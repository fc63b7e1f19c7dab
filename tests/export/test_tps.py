"""TPS files: y up from the bottom edge, missing landmarks negative, SCALE kept, bad files one
clear error naming the line."""

from __future__ import annotations

import math

import numpy as np
import pytest

from device.core.errors import BadInput
from export.tps import TpsSpecimen, format_tps, parse_tps, specimen_points

TPSDIG = """LM=3
290.00000 108.00000
100.00000 179.00000
-1.00000 -1.00000
IMAGE=63001.jpg
ID=0
SCALE=0.00125
LM=3
1 2
3 4
5 6
CURVES=1
POINTS=2
7 8
9 10
IMAGE=63002.jpg
"""


def test_reads_tpsdig_specimens_with_missing_landmarks_and_outlines_skipped():
    a, b = parse_tps(TPSDIG, "w.tps")
    assert a.image == "63001.jpg" and a.id == "0" and a.scale == 0.00125
    assert a.points[:2].tolist() == [[290, 108], [100, 179]] and np.isnan(a.points[2]).all()
    assert b.image == "63002.jpg" and b.scale is None
    assert b.points.tolist() == [[1, 2], [3, 4], [5, 6]]


def test_y_runs_up_from_the_bottom_edge():
    (a, _) = parse_tps(TPSDIG, "w.tps")
    # an image 480 tall: y_tps 108 is 372 from the top
    assert a.image_points(480)[0].tolist() == [290, 372]


def test_written_and_read_back_is_the_same_configuration():
    pts = np.array([[290.0, 372.0], [math.nan, math.nan], [73.25, 251.5]])
    text = format_tps([specimen_points(pts, 480, "63001.jpg", 0.00125)])
    assert "-1.00000 -1.00000" in text and "SCALE=0.00125" in text
    (back,) = parse_tps(text, "out.tps")
    assert np.allclose(back.image_points(480), pts, equal_nan=True)
    assert back.image == "63001.jpg" and back.scale == 0.00125


def test_a_name_with_a_newline_cannot_add_a_key():
    text = format_tps([TpsSpecimen(np.zeros((3, 2)), image="a.jpg\nSCALE=99", id="x\r\nLM=1")])
    (back,) = parse_tps(text, "out.tps")
    assert back.scale is None and back.image == "a.jpg SCALE=99"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "no specimen"),
        ("hello\n", "line 1"),
        ("IMAGE=a.jpg\n", "expected LM=N"),
        ("LM=2\n1 2\n", "file ends"),
        ("LM=two\n", "LM='two'"),
        ("LM=99999999\n", "a count"),
        ("LM=1\n1 x\n", "line 2"),
        ("LM=1\n1 inf\n", "finite"),
        ("LM=1\n1 2 3\n", "two numbers"),
        ("LM=1\n1 2\nSCALE=-3\n", "SCALE"),
        ("LM=1\n1 2\nSCALE=nan\n", "SCALE"),
    ],
)
def test_a_file_that_is_not_tps_is_one_clear_error(text, says):
    with pytest.raises(BadInput, match="w.tps") as e:
        parse_tps(text, "w.tps")
    assert says in str(e.value) and "\n" not in str(e.value)
