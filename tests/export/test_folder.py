from pathlib import Path

import pytest

from device.core.errors import BadInput
from export.folder import read_folder
from tests.conftest import run_cli, squares_image, write_png
from tests.support.cli_checks import one_line_error


def make_folder(root: Path, csv_text: str, images=("a.png", "b.png")) -> Path:
    for name in images:
        write_png(root / "images" / name, squares_image([(40, 40)]))
    (root / "points.csv").write_text(csv_text)
    return root


def test_reads_classes_and_points(tmp_path):
    f = read_folder(
        make_folder(
            tmp_path, "image,x,y,label\na.png,40,40,wild\na.png,10,5,ebony\nb.png,1,1,wild\n"
        )
    )
    assert f.classes == ["ebony", "wild"]
    assert [s.count() for s in f.samples] == [2, 1]
    assert f.samples[0].width == 160 and f.samples[0].height == 128
    assert f.n_objects == 3


def test_image_without_rows_holds_no_object(tmp_path):
    f = read_folder(make_folder(tmp_path, "image,x,y,label\na.png,40,40,egg\n"))
    assert [s.count() for s in f.samples] == [1, 0]


@pytest.mark.parametrize(
    "csv_text, expected",
    [
        ("img,x,y,label\n", "wrong header"),
        ("image,x,y,label\nmissing.png,1,1,egg\n", "row 2: image 'missing.png' is not in images/"),
        ("image,x,y,label\na.png,1,1,egg\na.png,one,1,egg\n", "row 3: non-numeric coordinate"),
        ("image,x,y,label\na.png,500,1,egg\n", "row 2: point (500, 1) is outside a.png (160x128)"),
        ("image,x,y,label\na.png,-3,1,egg\n", "outside a.png"),
        ("image,x,y,label\na.png,1,1\n", "row 2: 3 fields"),
        ("image,x,y,label\na.png,1,1,\n", "row 2: empty label"),
        ("image,x,y,label\na.png,nan,1,egg\n", "non-finite"),
    ],
)
def test_bad_points_name_file_row_and_problem(tmp_path, csv_text, expected):
    root = make_folder(tmp_path, csv_text)
    with pytest.raises(BadInput) as e:
        read_folder(root)
    msg = str(e.value)
    assert str(root / "points.csv") in msg or "points.csv" in msg
    assert expected in msg
    assert "\n" not in msg


def test_unreadable_image(tmp_path):
    root = make_folder(tmp_path, "image,x,y,label\n")
    (root / "images" / "c.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(BadInput, match=r"c\.jpg: not a readable image"):
        read_folder(root)


def test_empty_folder(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(BadInput, match="empty folder"):
        read_folder(tmp_path)


def test_not_a_folder(tmp_path):
    with pytest.raises(BadInput, match="not a folder"):
        read_folder(tmp_path / "nope")
    with pytest.raises(BadInput, match="no images/ folder"):
        read_folder(tmp_path)


def test_content_hash_changes_with_points(tmp_path):
    a = read_folder(make_folder(tmp_path / "a", "image,x,y,label\na.png,40,40,egg\n"))
    b = read_folder(make_folder(tmp_path / "b", "image,x,y,label\na.png,41,40,egg\n"))
    assert a.content_hash() != b.content_hash()


def test_points_csv_that_is_not_utf8_is_one_line(tmp_path):
    write_png(tmp_path / "f" / "images" / "a.png", squares_image([(40, 40)]))
    (tmp_path / "f" / "points.csv").write_bytes(b"image,x,y,label\na.png,40,40,\xffgg\n")
    one_line_error(
        run_cli("train", str(tmp_path / "f"), "--out", str(tmp_path / "m.onnx")),
        "points.csv",
        "not UTF-8",
    )
