"""Importer round trips on files written the way those tools write them."""

import json

import cv2
import numpy as np
import pytest

from device.core.errors import BadInput
from export.folder import read_folder
from export.importers import export_cellcounter, import_annotations
from tests.conftest import run_cli, squares_image, write_png
from tests.support.cli_checks import one_line_error

CELLCOUNTER = """<?xml version="1.0" encoding="UTF-8"?>
<CellCounter_Marker_File>
    <Image_Properties>
        <Image_Filename>a.png</Image_Filename>
    </Image_Properties>
    <Marker_Data>
        <Current_Type>1</Current_Type>
        <Marker_Type>
            <Type>1</Type>
            <Name>wild-type</Name>
            <Marker>
                <MarkerX>24</MarkerX>
                <MarkerY>30</MarkerY>
                <MarkerZ>1</MarkerZ>
            </Marker>
            <Marker>
                <MarkerX>60</MarkerX>
                <MarkerY>31</MarkerY>
                <MarkerZ>1</MarkerZ>
            </Marker>
        </Marker_Type>
        <Marker_Type>
            <Type>2</Type>
            <Marker>
                <MarkerX>100</MarkerX>
                <MarkerY>90</MarkerY>
                <MarkerZ>1</MarkerZ>
            </Marker>
        </Marker_Type>
    </Marker_Data>
</CellCounter_Marker_File>
"""


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    write_png(d / "a.png", squares_image([(24, 30)]))
    write_png(d / "b.png", squares_image([(40, 40)]))
    return d


def points(folder):
    f = read_folder(folder)
    return {s.name: sorted((round(x), round(y), c) for x, y, c in s.points) for s in f.samples}


def test_cellcounter_round_trip(src, tmp_path):
    (src / "CellCounter_a.xml").write_text(CELLCOUNTER)
    assert import_annotations("cellcounter", src / "CellCounter_a.xml", tmp_path / "f") == (1, 3)
    want = {"a.png": [(24, 30, "wild-type"), (60, 31, "wild-type"), (100, 90, "type2")]}
    assert points(tmp_path / "f") == want
    export_cellcounter(tmp_path / "f", tmp_path / "xml")
    import_annotations("cellcounter", tmp_path / "xml", tmp_path / "g", images=src)
    assert points(tmp_path / "g") == want


def test_labelme(src, tmp_path):
    doc = {
        "version": "5.4.1",
        "flags": {},
        "imagePath": "..\\src\\b.png",
        "imageData": None,
        "imageHeight": 128,
        "imageWidth": 160,
        "shapes": [
            {
                "label": "egg",
                "points": [[40.2, 40.7]],
                "group_id": None,
                "shape_type": "point",
                "flags": {},
            },
            {"label": "vial", "points": [[1, 1], [50, 50]], "shape_type": "rectangle"},
        ],
    }
    (src / "b.json").write_text(json.dumps(doc))
    notes: list[str] = []
    import_annotations("labelme", src, tmp_path / "f", notes=notes)
    # a box is one object: imported at its centre, and the user is told
    assert points(tmp_path / "f") == {"b.png": [(26, 26, "vial"), (40, 41, "egg")]}
    assert notes == [f"{src}: imported 1 rectangles as one point each at the centre"]


def test_cvat(src, tmp_path):
    (src / "annotations.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
        '<image id="0" name="a.png" width="160" height="128">'
        '<points label="ebony" source="manual" occluded="0" points="10.50,20.25;30.00,40.00" '
        'z_order="0"></points></image>'
        '<image id="1" name="b.png" width="160" height="128"></image></annotations>'
    )
    import_annotations("cvat", src / "annotations.xml", tmp_path / "f")
    assert points(tmp_path / "f") == {"a.png": [(10, 20, "ebony"), (30, 40, "ebony")], "b.png": []}


def test_napari_csv(src, tmp_path):
    (src / "a.csv").write_text("index,axis-0,axis-1\n0,30.0,24.0\n1,90.0,100.0\n")
    import_annotations("napari", src / "a.csv", tmp_path / "f", label="cell")
    assert points(tmp_path / "f") == {"a.png": [(24, 30, "cell"), (100, 90, "cell")]}


def test_dot_masks(src, tmp_path):

    mask = np.zeros((128, 160), np.uint8)
    mask[30, 24] = 255
    mask[90, 100] = 255
    import cv2

    cv2.imwrite(str(src / "a_dots.png"), mask)
    import_annotations("dotmask", src, tmp_path / "f", label="cell")
    assert points(tmp_path / "f") == {"a.png": [(24, 30, "cell"), (100, 90, "cell")]}


@pytest.mark.parametrize(
    "fmt, name, text, expected",
    [
        ("cellcounter", "x.xml", "<CellCounter_Marker_File><oops>", "not well-formed XML"),
        ("cellcounter", "x.xml", "<Other/>", "expected <CellCounter_Marker_File>"),
        (
            "cellcounter",
            "x.xml",
            CELLCOUNTER.replace("<MarkerX>60", "<MarkerX>sixty"),
            "<Marker_Type> 1 <Marker> 2 <MarkerX> is not a number",
        ),
        ("labelme", "x.json", "{bad json", "not valid JSON"),
        (
            "labelme",
            "x.json",
            '{"imagePath": "a.png", "shapes": [{"label": "", "points": [[1,2]]}]}',
            "shapes[0].label is empty",
        ),
        (
            "cvat",
            "x.xml",
            '<annotations><image id="3"/></annotations>',
            "<image id='3'> has no name",
        ),
        ("napari", "x.csv", "index,x,y\n", "no axis-0/axis-1"),
        (
            "cvat",
            "x.xml",
            '<annotations><image name="zzz.png"/></annotations>',
            "'zzz.png' not found",
        ),
    ],
)
def test_bad_files_name_file_and_element(src, tmp_path, fmt, name, text, expected):
    (src / name).write_text(text)
    with pytest.raises(BadInput) as e:
        import_annotations(fmt, src / name, tmp_path / "f")
    assert name in str(e.value) or "zzz" in str(e.value)
    assert expected in str(e.value)


def test_import_cli(src, tmp_path):
    (src / "CellCounter_a.xml").write_text(CELLCOUNTER)
    proc = run_cli("import", "cellcounter", str(src), str(tmp_path / "f"))
    assert proc.returncode == 0 and b"imported 3 points on 1 images" in proc.stdout
    bad = run_cli("import", "cellcounter", str(tmp_path / "nothing"), str(tmp_path / "g"))
    assert bad.returncode == 2 and b"no such file or folder" in bad.stderr


def _dots(path, shape, dots):
    import numpy as np

    mask = np.zeros(shape, np.uint8)
    for x, y in dots:
        mask[y, x] = 255
    cv2.imwrite(str(path), mask)


def test_dot_mask_of_another_size_is_refused(src, tmp_path):
    _dots(src / "a_dots.png", (64, 80), [(12, 15)])  # half the image's 160x128
    proc = run_cli("import", "dotmask", str(src), str(tmp_path / "f"))
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "a_dots.png" in err and "80x64" in err and "160x128" in err
    assert not (tmp_path / "f" / "points.csv").exists()


def test_dot_mask_ignores_colour_previews_beside_the_masks(src, tmp_path):
    _dots(src / "a_dots.png", (128, 160), [(24, 30)])
    _dots(src / "a_dots_color.png", (128, 160), [(1, 1), (2, 2), (3, 3)])
    proc = run_cli("import", "dotmask", str(src), str(tmp_path / "f"))
    assert proc.returncode == 0, proc.stderr.decode()
    assert sorted(p.name for p in (tmp_path / "f" / "images").iterdir()) == ["a.png"]
    assert points(tmp_path / "f") == {"a.png": [(24, 30, "object")]}


def _labelme(src, label: str) -> None:
    write_png(src / "b.png", squares_image([(40, 40)]))
    doc = {
        "imagePath": "b.png",
        "imageHeight": 128,
        "imageWidth": 160,
        "shapes": [{"label": label, "points": [[40, 40]], "shape_type": "point"}],
    }
    (src / "b.json").write_text(json.dumps(doc))


def test_formula_labels_are_neutralised_in_points_csv_and_read_back_raw(tmp_path):
    _labelme(tmp_path / "src", "=SUM(1)")
    proc = run_cli("import", "labelme", str(tmp_path / "src"), str(tmp_path / "f"))
    assert proc.returncode == 0, proc.stderr
    assert "'=SUM(1)" in (tmp_path / "f" / "points.csv").read_text()
    from export.folder import read_folder

    assert read_folder(tmp_path / "f").classes == ["=SUM(1)"]


@pytest.mark.parametrize("label", ["a/b", "x" * 60])
def test_class_names_every_model_would_refuse_are_refused_at_import(tmp_path, label):
    _labelme(tmp_path / "src", label)
    dest = tmp_path / "f"
    one_line_error(run_cli("import", "labelme", str(tmp_path / "src"), str(dest)), "class name")
    assert not dest.exists() or not any(dest.rglob("*.csv"))
