"""`scopecount import` with hostile or broken files: exit 2, one line naming the file or value,
and the training folder byte for byte as it was."""

import json
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import run_cli, squares_image, write_png


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def dest(tmp_path):
    """An existing training folder with 105 rows on a.png."""
    d = tmp_path / "train"
    write_png(d / "images" / "a.png", squares_image([(24, 30)]))
    rows = [f"a.png,{1 + i % 150},{1 + i // 150 * 10},egg" for i in range(105)]
    (d / "points.csv").write_text("image,x,y,label\n" + "\n".join(rows) + "\n")
    return d


@pytest.fixture
def src(tmp_path):
    d = tmp_path / "src"
    write_png(d / "a.png", squares_image([(24, 30)]))
    return d


def refused(args, dest: Path, *names: str):
    before = snapshot(dest) if dest.exists() else None
    t0 = time.monotonic()
    proc = run_cli("import", *map(str, args), str(dest), timeout=60)
    took = time.monotonic() - t0
    err = proc.stderr.decode().strip()
    assert proc.returncode == 2, (proc.returncode, err, proc.stdout)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in names:
        assert n in err, err
    assert (snapshot(dest) if dest.exists() else None) == before
    return err, took


def labelme(path: Path, shapes: list, image: str = "a.png") -> Path:
    path.write_text(json.dumps({"imagePath": image, "shapes": shapes}))
    return path


def test_a_point_outside_the_image_changes_nothing(src, dest):
    f = labelme(src / "a.json", [{"label": "egg", "points": [[5000, 10]], "shape_type": "point"}])
    refused(["labelme", f], dest, "a.json", "5000")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_are_refused(src, dest, value):
    f = src / "a.json"
    shapes = '[{"label": "egg", "points": [[VALUE, 3]]}]'.replace("VALUE", value)
    f.write_text('{"imagePath": "a.png", "shapes": ' + shapes + "}")
    refused(["labelme", f], dest, "a.json", "finite")


def test_a_label_with_a_newline_is_refused(src, dest):
    f = labelme(src / "a.json", [{"label": "egg\n=1+1", "points": [[5, 5]]}])
    refused(["labelme", f], dest, "a.json", "label")


CC = """<?xml version="1.0" encoding="UTF-8"?>
<CellCounter_Marker_File><Image_Properties><Image_Filename>{}</Image_Filename></Image_Properties>
<Marker_Data><Marker_Type><Type>1</Type><Marker><MarkerX>5</MarkerX><MarkerY>5</MarkerY>
</Marker></Marker_Type></Marker_Data></CellCounter_Marker_File>"""


@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "ABSOLUTE", ".."])
def test_cellcounter_file_names_never_leave_the_source_folder(src, dest, tmp_path, name):
    outside = tmp_path / "outside" / "secret.png"
    write_png(outside, squares_image([(24, 30)]))
    if name == "ABSOLUTE":
        name = str(outside)  # an image that exists, but not in the source's folders
    (src / "CellCounter_a.xml").write_text(CC.format(name))
    refused(["cellcounter", src / "CellCounter_a.xml"], dest, "CellCounter_a.xml")
    assert not (dest / "images" / "passwd").exists()
    assert not (dest / "images" / "secret.png").exists()


def test_a_link_in_the_source_folder_pointing_elsewhere_is_not_followed(src, dest, tmp_path):
    outside = tmp_path / "outside" / "b.png"
    write_png(outside, squares_image([(24, 30)]))
    (src / "b.png").symlink_to(outside)
    (src / "CellCounter_b.xml").write_text(CC.format("b.png"))
    refused(["cellcounter", src / "CellCounter_b.xml"], dest, "b.png")


def huge_png(path: Path, side: int) -> Path:
    """A real 1-bit PNG of side x side pixels, all black: small on disk, huge decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )
    return path


def test_a_dot_mask_too_large_to_decode_is_refused_from_its_header(src, dest):
    mask = huge_png(src / "a_dots.png", 30000)
    assert mask.stat().st_size < 2_000_000
    _, took = refused(["dotmask", mask], dest, "a_dots.png", "30000x30000")
    assert took < 10


def test_a_dot_mask_with_too_many_points_is_refused(src, dest):
    cv2.imwrite(str(src / "a_dots.png"), np.full((3000, 3000), 255, np.uint8))
    refused(["dotmask", src / "a_dots.png"], dest, "a_dots.png", "9000000")


def test_not_a_png_mask_is_refused(src, dest):
    (src / "a_dots.png").write_bytes(b"GIF89a" + b"\0" * 40)
    refused(["dotmask", src / "a_dots.png"], dest, "a_dots.png", "not a PNG")


def test_labelme_shapes_are_imported_at_their_centres_and_reported(src, tmp_path):
    shapes = [
        {"label": "egg", "points": [[10, 10], [30, 50]], "shape_type": "rectangle"},
        {"label": "egg", "points": [[60, 60], [60, 70]], "shape_type": "circle"},
        {
            "label": "egg",
            "points": [[100, 20], [120, 20], [120, 40], [100, 40]],
            "shape_type": "polygon",
        },
        {"label": "egg", "points": [[1, 1], [9, 9]], "shape_type": "line"},
    ]
    f = labelme(src / "a.json", shapes)
    proc = run_cli("import", "labelme", str(f), str(tmp_path / "new"))
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "1 rectangles" in err and "1 circles" in err and "1 polygons" in err
    assert "skipped 1 lines" in err
    rows = (tmp_path / "new" / "points.csv").read_text().splitlines()[1:]
    assert sorted(rows) == [
        "a.png,110.00,30.00,egg",
        "a.png,20.00,30.00,egg",
        "a.png,60.00,60.00,egg",
    ]


def test_cvat_boxes_polygons_ellipses_imported_polylines_skipped(src, tmp_path):
    (src / "annotations.xml").write_text(
        '<annotations><image id="0" name="a.png" width="160" height="128">'
        '<box label="egg" xtl="10" ytl="10" xbr="30" ybr="50"/>'
        '<polygon label="egg" points="100,20;120,20;120,40;100,40"/>'
        '<ellipse label="egg" cx="60" cy="60" rx="4" ry="4"/>'
        '<polyline label="egg" points="1,1;9,9"/>'
        '<points label="egg" points="5,6"/></image></annotations>'
    )
    proc = run_cli("import", "cvat", str(src / "annotations.xml"), str(tmp_path / "new"))
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr.decode()
    assert "1 boxes" in err and "1 ellipses" in err and "skipped 1 polylines" in err
    rows = (tmp_path / "new" / "points.csv").read_text().splitlines()[1:]
    assert len(rows) == 4 and "a.png,110.00,30.00,egg" in rows
