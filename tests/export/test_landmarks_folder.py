"""Landmarks training folders: rows to configurations, names, missing landmarks, and every bad
file a clear error naming it."""

from __future__ import annotations

import numpy as np
import pytest

from device.core.errors import BadInput
from export.landmarks_folder import is_landmarks_folder, read_landmarks_folder
from tests.conftest import SHARED_DATA, write_png


def folder(root, rows: str, images=("a.png", "b.png", "c.png"), names: str | None = None):
    (root / "images").mkdir(parents=True)
    for n in images:
        write_png(root / "images" / n, np.zeros((48, 64, 3), np.uint8))
    (root / "landmarks.csv").write_text("image,landmark,x,y\n" + rows)
    if names is not None:
        (root / "landmarks-names.csv").write_text("landmark,name\n" + names)
    return root


def test_rows_become_configurations_with_missing_landmarks_as_nan(tmp_path):
    f = read_landmarks_folder(
        folder(tmp_path, "a.png,1,10,20\na.png,3,30,40\nb.png,2,5.5,6\nb.png,1,1,2\n")
    )
    assert is_landmarks_folder(tmp_path) and f.names == ["1", "2", "3"]
    a, b = f.samples
    assert a.name == "a.png" and (a.width, a.height) == (64, 48)
    assert a.points[0].tolist() == [10, 20] and np.isnan(a.points[1]).all()
    assert b.points[1].tolist() == [5.5, 6] and np.isnan(b.points[2]).all()
    assert f.left_out == ["c.png"]
    assert f.subset(["b.png"]).samples == [b]


def test_names_come_from_the_names_file(tmp_path):
    f = read_landmarks_folder(
        folder(tmp_path, "a.png,1,10,20\n", names="2,L3 end\n1,humeral break\n")
    )
    assert f.names == ["humeral break", "L3 end"] and f.samples[0].points.shape == (2, 2)


def test_the_hash_changes_when_a_landmark_moves(tmp_path):
    root = folder(tmp_path, "a.png,1,10,20\n")
    before = read_landmarks_folder(root).content_hash()
    (root / "landmarks.csv").write_text("image,landmark,x,y\na.png,1,11,20\n")
    assert read_landmarks_folder(root).content_hash() != before


@pytest.mark.parametrize(
    ("rows", "names", "says"),
    [
        ("", None, "no landmark placed"),
        ("z.png,1,1,1\n", None, "not in images/"),
        ("a.png,0,1,1\n", None, "a number 1 to"),
        ("a.png,one,1,1\n", None, "a number 1 to"),
        ("a.png,1,x,1\n", None, "not numbers"),
        ("a.png,1,nan,1\n", None, "finite"),
        ("a.png,1,64,1\n", None, "outside the 64x48 image"),
        ("a.png,1,-1,1\n", None, "outside"),
        ("a.png,1,1,1\na.png,1,2,2\n", None, "placed twice"),
        ("a.png,1,1\n", None, "3 fields"),
        ("a.png,3,1,1\n", "1,a\n2,b\n", "names 2"),
        ("a.png,1,1,1\n", "1,a\n3,b\n", "without gaps"),
        ("a.png,1,1,1\n", "1,a\n2,a\n", "same name"),
        ("a.png,1,1,1\n", "1,a\n1,b\n", "named twice"),
    ],
)
def test_a_bad_folder_is_one_clear_error(tmp_path, rows, names, says):
    root = folder(tmp_path, rows, names=names)
    with pytest.raises(BadInput) as e:
        read_landmarks_folder(root)
    assert says in str(e.value) and "\n" not in str(e.value) and "landmark" in str(e.value)


def test_a_wrong_header_names_the_file(tmp_path):
    root = folder(tmp_path, "")
    (root / "landmarks.csv").write_text("image,x,y,label\n")
    with pytest.raises(BadInput, match="landmarks.csv: header"):
        read_landmarks_folder(root)


def test_the_shared_wings_read_as_twelve_landmarks():
    wings = SHARED_DATA / "drosophila-wings"
    if not wings.is_dir():
        pytest.skip("shared/data/drosophila-wings is not here")
    f = read_landmarks_folder(wings)
    assert f.names == [str(k) for k in range(1, 13)] and len(f.samples) == 38
    assert all(np.isfinite(s.points).all() for s in f.samples)
