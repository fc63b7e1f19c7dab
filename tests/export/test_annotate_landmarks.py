"""Landmark mode's API as the page calls it: the state, a save, a stale revision, refused
bodies and requests (nothing written), rows of other images kept, names as text."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from device.core.errors import BadInput
from export.annotate_server import serve
from tests.conftest import write_png
from tests.export.test_annotate_masks import GUARDS, client_for, snapshot  # noqa: F401


def wings(tmp: Path, rows: str = "") -> Path:
    root = tmp / "wings"
    for n in ("a.png", "b.png"):
        write_png(root / "images" / n, np.zeros((40, 60, 3), np.uint8))
    (root / "landmarks.csv").write_text("image,landmark,x,y\n" + rows)
    return root


def read(root: Path) -> list[list[str]]:
    with open(root / "landmarks.csv") as f:
        return list(csv.reader(f))[1:]


def test_state_and_a_save_keep_other_images_rows(client_for, tmp_path):  # noqa: F811
    root = wings(tmp_path, "b.png,2,5,6\nother.png,1,1,1\n")
    c = client_for(root, landmarks=3)
    st = c.state()
    assert st["mode"] == "landmarks" and st["classes"] == ["1", "2", "3"]
    a = next(im for im in st["images"] if im["name"] == "a.png")
    assert a["landmarks"] == [None, None, None] and a["revision"] == 0
    placed = [[1, 2], None, [30.5, 20]]
    body = {"image": "a.png", "landmarks": placed, "revision": 0}
    status, out = c.call("POST", "/api/landmarks", body)
    assert status == 200 and out == {"ok": True, "revision": 1}
    assert read(root) == [
        ["b.png", "2", "5", "6"],
        ["other.png", "1", "1", "1"],
        ["a.png", "1", "1.0", "2.0"],
        ["a.png", "3", "30.5", "20.0"],
    ]
    stale = body | {"landmarks": [None] * 3}
    status, out = c.call("POST", "/api/landmarks", stale)
    assert status == 409 and out["landmarks"] == placed


BAD = [
    ("wrong count", {"landmarks": [None, None]}, 400),
    ("not a pair", {"landmarks": [[1], None, None]}, 400),
    ("a string", {"landmarks": [["1", 2], None, None]}, 400),
    ("not finite", {"landmarks": [[1e400, 2], None, None]}, 400),
    ("outside", {"landmarks": [[60, 2], None, None]}, 400),
    ("negative", {"landmarks": [[-1, 2], None, None]}, 400),
    ("unknown image", {"image": "../a.png"}, 400),
    ("unknown field", {"extra": 1}, 400),
    ("revision", {"revision": -1}, 400),
]


@pytest.mark.parametrize(("why", "over", "status"), BAD, ids=[b[0] for b in BAD])
def test_refused_saves_change_nothing(client_for, tmp_path, why, over, status):  # noqa: F811
    root = wings(tmp_path, "a.png,1,5,6\n")
    c = client_for(root, landmarks=3)
    before = snapshot(root)
    body = {"image": "a.png", "landmarks": [[1, 2], None, None], "revision": 0} | over
    got, _ = c.call("POST", "/api/landmarks", body)
    assert got == status, why
    assert snapshot(root) == before


@pytest.mark.parametrize("why,headers,status", GUARDS, ids=[g[0] for g in GUARDS])
def test_guards_refuse_and_change_nothing(client_for, tmp_path, why, headers, status):  # noqa: F811
    root = wings(tmp_path)
    c = client_for(root, landmarks=3)
    before = snapshot(root)
    body = {"image": "a.png", "landmarks": [[1, 2], None, None], "revision": 0}
    got, _ = c.call("POST", "/api/landmarks", body, headers)
    assert got == status, why
    assert snapshot(root) == before


def test_how_many_landmarks_must_be_said(tmp_path):
    root = wings(tmp_path)
    with pytest.raises(BadInput, match="--landmarks N"):
        serve(root)
    (root / "landmarks-names.csv").write_text("landmark,name\n1,a\n2,b\n")
    with pytest.raises(BadInput, match="--landmarks 3: the folder or model has 2"):
        serve(root, landmarks=3)


def test_a_fifo_or_a_huge_landmark_number_is_refused_at_start(tmp_path):
    import os

    root = wings(tmp_path)
    (root / "landmarks.csv").unlink()
    os.mkfifo(root / "landmarks.csv")
    with pytest.raises(BadInput, match="not a regular file"):
        serve(root, landmarks=3)
    (root / "landmarks.csv").unlink()
    (root / "landmarks.csv").write_text("image,landmark,x,y\na.png,1000000000000,1,1\n")
    with pytest.raises(BadInput, match="landmark 1000000000000: 1 to 200"):
        serve(root)


@pytest.mark.parametrize(
    ("rows", "says"),
    [("a.png,1,5,6\na.png,1,7,8\n", "placed twice"), ("a.png,1,60,6\n", "outside the 60x40 image")],
)
def test_rows_that_cannot_be_shown_are_refused_at_start(tmp_path, rows, says):
    with pytest.raises(BadInput, match=says):
        serve(wings(tmp_path, rows), landmarks=3)


def test_a_model_and_a_names_file_that_disagree_are_refused(tmp_path):
    from tests.support import onnx_fixtures

    root = wings(tmp_path)
    names = "".join(f"{k},n{k}\n" for k in range(1, 6))
    (root / "landmarks-names.csv").write_text("landmark,name\n" + names)
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    with pytest.raises(BadInput, match="names 5 landmarks, the model places 3"):
        serve(root, str(model))


def test_a_number_no_float_holds_is_400_and_a_file_gone_bad_is_409(client_for, tmp_path):  # noqa: F811
    root = wings(tmp_path)
    c = client_for(root, landmarks=3)
    body = {"image": "a.png", "landmarks": [[10**400, 2], None, None], "revision": 0}
    got, out = c.call("POST", "/api/landmarks", body)
    assert got == 400 and "finite" in out["error"]
    (root / "landmarks.csv").write_bytes(b"image,landmark,x,y\n\xff\xfe,1,1,1\n")
    got, out = c.call("GET", "/api/state")
    assert got == 409 and "landmarks.csv" in out["error"]
