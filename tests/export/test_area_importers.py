"""Areas in and out: label images and QuPath GeoJSON into an areas folder, the folder back out as
QuPath GeoJSON and label images. A refusal is one BadInput line naming the file, and the folder
byte for byte as it was.

The round trip rule tested: export qupath then import qupath gives back every mask exactly,
for any mask (smooth regions, holes, islands in holes, one-pixel lines and dots, noise). An
outline runs through the centres of a region's edge pixels; importing fills a polygon together
with its outline and cuts a hole's interior but not the hole's outline, so each pixel lands back
in its own region.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.core.errors import BadInput
from export import qupath_geojson
from export.area_exporters import export_labels, export_qupath
from export.area_importers import import_labels, import_qupath
from export.areas_folder import read_areas_folder, read_mask
from tests.conftest import run_cli
from tests.support.cli_checks import one_line_error

H, W = 24, 32


def write(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """An areas folder with two images and no masks yet."""
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg"):
        write(tmp_path / "f" / "images" / name, rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    return tmp_path / "f"


def refused(call, folder: Path, *fragments: str) -> str:
    """call() raises one line of BadInput holding every fragment; folder is untouched."""
    before = snapshot(folder)
    with pytest.raises(BadInput) as e:
        call()
    msg = str(e.value)
    assert "\n" not in msg, msg
    for f in fragments:
        assert f in msg, msg
    assert snapshot(folder) == before
    return msg


def classes(folder: Path) -> str:
    return (folder / "classes.csv").read_text()


# ---- import labels ------------------------------------------------------------------------


def labels_8bit() -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[2:10, 3:12] = 1
    m[12:20, 5:30] = 2
    return m


def test_labels_png_and_tif_become_masks_named_class_v(folder, tmp_path):
    src = tmp_path / "src"
    write(src / "a.png", labels_8bit())
    write(src / "b.tif", np.where(labels_8bit() == 2, 2, 0).astype(np.uint8))
    done = import_labels(src, folder)
    assert done.masks == 2 and done.classes == {1: "class-1", 2: "class-2"}
    assert classes(folder) == "value,class\n1,class-1\n2,class-2\n"
    assert (read_mask(folder / "masks" / "a.png") == labels_8bit()).all()
    af = read_areas_folder(folder)  # a folder training reads: 0 is unlabelled (-1)
    assert af.classes == ["class-1", "class-2"] and (af.samples[0].labels()[0, 0] == -1)


def test_16bit_values_over_255_get_a_free_8bit_value_and_classes_csv_says_which(folder, tmp_path):
    lab = np.zeros((H, W), np.uint16)
    lab[0:4] = 7
    lab[4:8] = 300
    lab[8:12] = 1000
    write(tmp_path / "src" / "a.tif", lab)
    done = import_labels(tmp_path / "src", folder)
    assert classes(folder) == "value,class\n1,class-300\n2,class-1000\n7,class-7\n"
    mask = read_mask(folder / "masks" / "a.png")
    assert mask.dtype == np.uint8 and set(np.unique(mask[:12])) == {1, 2, 7}
    assert (mask[4:8] == 1).all() and (mask[12:] == 0).all()
    assert any("label value 300 (class-300) is mask value 1" in n for n in done.notes)


def test_source_classes_csv_names_values_and_an_existing_classes_csv_keeps_its_own(
    folder, tmp_path
):
    (folder / "classes.csv").write_text("value,class\n1,Gland\n")
    src = tmp_path / "src"
    write(src / "a.png", labels_8bit())
    (src / "classes.csv").write_text("value,class\n1,lumen\n2,gland\n")
    import_labels(src, folder)
    # gland is the folder's class 1 already; lumen wanted 1, so it takes the lowest free value
    assert classes(folder) == "value,class\n1,Gland\n2,lumen\n"
    mask = read_mask(folder / "masks" / "a.png")
    assert (mask == np.choose(labels_8bit(), [0, 2, 1])).all()


def test_replace_overwrites_an_existing_mask(folder, tmp_path):
    write(tmp_path / "src" / "a.png", labels_8bit())
    import_labels(tmp_path / "src", folder)
    write(tmp_path / "src" / "a.png", labels_8bit() * 0 + 1)
    refused(lambda: import_labels(tmp_path / "src", folder), folder, "a.png", "--replace")
    import_labels(tmp_path / "src", folder, replace=True)
    assert (read_mask(folder / "masks" / "a.png") == 1).all()


def colour() -> np.ndarray:
    c = np.zeros((H, W, 3), np.uint8)
    c[..., 2] = 200
    return c


@pytest.mark.parametrize(
    "name, arr, fragments",
    [
        ("a.png", np.ones((H + 1, W), np.uint8), ["a.png", f"{W}x{H + 1}", f"{W}x{H}"]),
        ("zzz.png", np.ones((H, W), np.uint8), ["zzz.png", "no image zzz.*"]),
        ("a.png", colour(), ["a.png", "colour label image"]),
        ("a.tif", np.ones((H, W), np.float32), ["a.tif", "float32"]),
        ("a.jpg", np.ones((H, W), np.uint8), ["a.jpg", "png or tif"]),
        ("a.png", np.zeros((H, W), np.uint8), ["every label image is all 0"]),
        (
            "a.tif",
            np.arange(H * W, dtype=np.uint16).reshape(H, W),
            ["767 label values", "instance"],
        ),
    ],
)
def test_label_images_that_cannot_be_masks_are_refused(folder, tmp_path, name, arr, fragments):
    write(tmp_path / "src" / name, arr)
    refused(lambda: import_labels(tmp_path / "src", folder), folder, *fragments)


def test_a_value_the_source_classes_csv_does_not_name_is_refused(folder, tmp_path):
    write(tmp_path / "src" / "a.png", labels_8bit())
    (tmp_path / "src" / "classes.csv").write_text("value,class\n1,gland\n")
    refused(lambda: import_labels(tmp_path / "src", folder), folder, "a.png", "value 2")


@pytest.mark.parametrize("name", ["a/b", "x\x1b[31m", "y" * 41])
def test_class_names_from_files_are_checked_and_never_a_path(folder, tmp_path, name):
    write(tmp_path / "src" / "a.png", labels_8bit())
    (tmp_path / "src" / "classes.csv").write_text(f"value,class\n1,{name}\n2,ok\n")
    refused(lambda: import_labels(tmp_path / "src", folder), folder, "classes.csv", "class name")


def test_two_label_images_for_one_image_are_refused(folder, tmp_path):
    write(tmp_path / "src" / "a.png", labels_8bit())
    write(tmp_path / "src" / "a.tif", labels_8bit())
    refused(lambda: import_labels(tmp_path / "src", folder), folder, "a.tif", "a.png")


def test_a_0_255_folder_without_classes_csv_is_not_given_one(folder, tmp_path):
    write(folder / "masks" / "b.png", np.full((H, W), 255, np.uint8))
    write(tmp_path / "src" / "a.png", labels_8bit())
    refused(lambda: import_labels(tmp_path / "src", folder), folder, "b.png", "classes.csv")


# ---- import qupath --------------------------------------------------------------------------


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def feature(coords, name: str | None, kind: str = "Polygon", old: bool = False) -> dict:
    props: dict = {"objectType": "annotation"}
    if name is not None:
        cls = {"name": name, "colorRGB": -3670016} if old else {"name": name, "color": [1, 2, 3]}
        props["classification"] = cls
    return {
        "type": "Feature",
        "geometry": {"type": kind, "coordinates": coords},
        "properties": props,
    }


def geojson(path: Path, doc) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def test_qupath_polygons_holes_multipolygons_and_order(folder, tmp_path):
    doc = collection(
        # a ring with a hole: vertices go to the pixel holding them, filled with the outline
        feature([square(2, 2, 12.9, 12), square(5, 5, 9, 9)], "Tumor"),
        feature([square(20, 2, 22, 4)], None),  # unclassified: skipped and counted
        feature([[1, 1], [5, 5]], "Tumor", kind="LineString"),  # no area
        feature([[square(20, 14, 24, 18)], [square(26, 14, 28, 16)]], "Stroma", "MultiPolygon"),
        feature([square(10, 10, 14, 14)], "stroma", old=True),  # later paints over earlier
    )
    done = import_qupath(geojson(tmp_path / "q" / "a.geojson", doc), folder)
    assert done.classes == {1: "Tumor", 2: "Stroma"}
    assert "1 features without a classification" in done.notes[0]
    assert "1 features LineString (not a polygon)" in done.notes[0]
    want = np.zeros((H, W), np.uint8)
    want[2:13, 2:13] = 1
    want[6:9, 6:9] = 0  # the hole's interior; its outline stays Tumor
    want[14:19, 20:25] = 2
    want[14:17, 26:29] = 2
    want[10:15, 10:15] = 2
    assert (read_mask(folder / "masks" / "a.png") == want).all()


def test_nan_outside_coordinates_is_a_missing_measurement_not_an_error(folder, tmp_path):
    f = feature([square(0, 0, 3, 3)], "T")
    f["properties"]["measurements"] = {"Area": "NAN"}
    text = json.dumps(collection(f)).replace('"NAN"', "NaN")  # as QuPath writes it
    f = tmp_path / "q" / "a.geojson"
    f.parent.mkdir()
    f.write_text(text)
    assert import_qupath(f, folder).masks == 1


def test_qupath_list_or_one_feature_fill_background_and_extending_classes(folder, tmp_path):
    (folder / "classes.csv").write_text("value,class\n5,tumor\n")
    geojson(tmp_path / "q" / "a.png.geojson", [feature([square(0, 0, 3, 3)], "Tumor")])
    geojson(tmp_path / "q" / "b.json", feature([square(0, 0, 3, 3)], "Necrosis"))
    done = import_qupath(tmp_path / "q", folder, fill_background=True)
    assert done.masks == 2
    assert classes(folder) == "value,class\n1,background\n2,Necrosis\n5,tumor\n"
    a = read_mask(folder / "masks" / "a.png")
    assert (a[:4, :4] == 5).all() and (a[4:] == 1).all()
    assert (read_mask(folder / "masks" / "b.png")[:4, :4] == 2).all()


def test_qupath_detections_are_skipped_and_counted_unless_asked_for(folder, tmp_path):
    old = feature([square(0, 0, 3, 3)], "Tumor")
    del old["properties"]["objectType"]  # older exports have none: an annotation
    cell = feature([square(10, 10, 13, 13)], "Positive")
    cell["properties"]["objectType"] = "cell"
    detection = feature([square(20, 10, 23, 13)], "Positive")
    detection["properties"]["objectType"] = "detection"
    core = feature([square(0, 16, 3, 19)], "Tumor")
    core["properties"]["objectType"] = "tma_core"  # neither: skipped either way
    doc = collection(feature([square(5, 0, 8, 3)], "Tumor"), old, cell, detection, core)
    src = geojson(tmp_path / "q" / "a.geojson", doc)
    done = import_qupath(src, folder)
    assert done.classes == {1: "Tumor"}
    note = done.notes[0]
    assert "1 features cell (a detection; --detections paints them)" in note
    assert "1 features detection (a detection; --detections paints them)" in note
    assert "1 features of another objectType (not an annotation)" in note
    m = read_mask(folder / "masks" / "a.png")
    assert (m[0:4, 0:4] == 1).all() and (m[0:4, 5:9] == 1).all()
    assert not m[10:, :].any()
    done = import_qupath(src, folder, replace=True, detections=True)
    assert done.classes == {1: "Tumor", 2: "Positive"}
    assert done.notes == [f"{src}: skipped 1 features of another objectType (not an annotation)"]
    m = read_mask(folder / "masks" / "a.png")
    assert (m[10:14, 10:14] == 2).all() and (m[10:14, 20:24] == 2).all()
    assert not m[16:, :4].any()
    # only detections in the file: the refusal says why, and what paints them
    only = geojson(tmp_path / "r" / "b.geojson", collection(cell))
    refused(lambda: import_qupath(only, folder), folder, "b.geojson", "--detections")


def qupath_refused(tmp_path: Path, folder: Path, text: str | bytes, *fragments: str) -> str:
    f = tmp_path / "q" / "a.geojson"
    f.parent.mkdir(exist_ok=True)
    f.write_bytes(text if isinstance(text, bytes) else text.encode())
    return refused(lambda: import_qupath(f, folder), folder, "a.geojson", *fragments)


def poly_text(coord: str) -> str:
    ring = f"[[1, 1], [9, 1], [{coord}, 9], [1, 1]]"
    cls = '{"classification": {"name": "T"}}'
    geometry = f'{{"type": "Polygon", "coordinates": [{ring}]}}'
    return f'{{"type": "Feature", "geometry": {geometry}, "properties": {cls}}}'


@pytest.mark.parametrize(
    "coord, fragment",
    [
        ("NaN", "finite"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
        ("1e999", "finite"),
        ("1" + "0" * 400, "finite"),
        ("true", "not a number"),
        ('"9"', "not a number"),
        ("null", "not a number"),
        ("90000", "far outside"),
    ],
)
def test_qupath_coordinates_must_be_finite_numbers_near_the_image(
    folder, tmp_path, coord, fragment
):
    qupath_refused(tmp_path, folder, poly_text(coord), fragment)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        ('{"type": "Topology"}', "not QuPath GeoJSON"),
        ('[{"type": "Feature"}, 3]', "features[1] is not a Feature"),
        (poly_text("9").replace('"Polygon"', '"Circle"'), "unknown type 'Circle'"),
        (poly_text("9").replace('"T"', '"a/b"'), "class name"),
        (poly_text("9").replace('"T"', '"T\\u202e"'), "class name"),
        (poly_text("9").replace('"T"', "7"), "not text"),
        (poly_text("9").replace("[1, 1], [9, 1], ", ""), "at least 3"),
        ('{"type": "FeatureCollection", "features": []}', "no classified polygon"),
        (json.dumps(collection(feature([square(0, 0, 3, 3)], None))), "without a classification"),
        ('{"a": ' + "[" * 5000 + "]" * 5000 + "}", "over the 32 limit"),
    ],
)
def test_qupath_files_that_are_not_its_geojson_are_refused(folder, tmp_path, text, fragment):
    qupath_refused(tmp_path, folder, text, fragment)


def test_qupath_limits_on_size_positions_and_painting(folder, tmp_path, monkeypatch):
    big = tmp_path / "q" / "a.geojson"
    big.parent.mkdir()
    with open(big, "wb") as f:  # sparse: refused from its size, never read
        f.truncate(qupath_geojson.MAX_BYTES + 1)
    refused(lambda: import_qupath(big, folder), folder, "a.geojson", "MiB limit")
    monkeypatch.setattr(qupath_geojson, "MAX_POSITIONS", 9)
    many = json.dumps(collection(*[feature([square(0, 0, 3, 3)], "T")] * 2))
    qupath_refused(tmp_path, folder, many, "positions limit")
    monkeypatch.setattr(qupath_geojson, "MAX_POSITIONS", 10**6)
    whole = feature([square(-W, -H, 2 * W, 2 * H)], "T")
    qupath_refused(tmp_path, folder, json.dumps(collection(*[whole] * 3000)), "times over")


def test_many_small_holes_cost_their_own_boxes_not_the_polygon_s(folder, tmp_path):
    """Each hole used to allocate and scan a copy of its polygon's whole box: 5000 three-point
    holes in a full-image polygon took seconds on a 4 Mpx image."""
    side = 2000
    write(folder / "images" / "big.png", np.zeros((side, side, 3), np.uint8))
    rng = np.random.default_rng(1)
    holes = [
        [[x, y], [x + 4, y], [x, y + 4], [x, y]]
        for x, y in rng.integers(10, side - 10, (5000, 2)).astype(float).tolist()
    ]
    doc = collection(feature([square(0, 0, side - 1, side - 1), *holes], "T"))
    f = geojson(tmp_path / "q" / "big.geojson", doc)
    t0 = time.monotonic()
    assert import_qupath(f, folder).masks == 1
    took = time.monotonic() - t0
    mask = read_mask(folder / "masks" / "big.png")
    x, y = (int(v) for v in holes[0][0])
    assert mask[y + 1, x + 1] == 0 and mask[y, x] == 1 and mask[0, 0] == 1
    assert took < 2.5, took


def _inside_whole_box(rings, width, height):
    """How a polygon was painted before: each hole cut from a copy of the whole box."""
    x0, y0, x1, y1 = qupath_geojson._box(rings[0], width, height)
    if x1 < x0 or y1 < y0:
        return None
    pix = [(np.floor(r) - (x0, y0)).astype(np.int32) for r in rings]
    region = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(region, [pix[0]], 1)
    for hole in pix[1:]:
        cut = np.zeros_like(region)
        cv2.fillPoly(cut, [hole], 1)
        cv2.polylines(cut, [hole], True, 0)
        region[cut == 1] = 0
    return x0, y0, region.astype(bool)


def test_holes_painted_in_their_own_boxes_paint_the_same_pixels():
    rng = np.random.default_rng(2)
    for _ in range(300):
        outer = rng.uniform(-20, 60, (rng.integers(3, 8), 2))
        holes = [rng.uniform(-30, 70, (rng.integers(3, 7), 2)) for _ in range(rng.integers(1, 5))]
        rings = [outer, *holes]
        got = qupath_geojson._inside(rings, 40, 30)
        want = _inside_whole_box(rings, 40, 30)
        if want is None:
            assert got is None
            continue
        assert got is not None and got[:2] == want[:2]
        assert (got[2] == want[2]).all()


def test_a_file_of_empty_objects_is_refused_from_its_size_before_it_is_parsed(folder, tmp_path):
    """64 MiB of `{},` took about 2 GB to parse: the limit is one a real export stays under."""
    assert qupath_geojson.MAX_BYTES <= 16 * 2**20
    n = qupath_geojson.MAX_BYTES // 3 + 10
    t0 = time.monotonic()
    qupath_refused(tmp_path, folder, b"[" + b"{}," * n + b"{}]", "MiB limit")
    assert time.monotonic() - t0 < 2
    proc = run_cli("import", "--help")
    assert proc.returncode == 0
    assert f"{qupath_geojson.MAX_BYTES >> 20} MiB" in " ".join(proc.stdout.decode().split())


@pytest.mark.parametrize("name", ["'=x", "'gland"])
def test_a_class_name_starting_with_a_quote_is_refused(folder, tmp_path, name):
    """classes.csv would hold '=x as it is and read it back as =x, another class."""
    doc = collection(feature([square(0, 0, 3, 3)], name), feature([square(5, 5, 8, 8)], "=x"))
    f = geojson(tmp_path / "q" / "a.geojson", doc)
    refused(lambda: import_qupath(f, folder), folder, "a.geojson", name, "quote")
    write(tmp_path / "src" / "a.png", labels_8bit())
    (tmp_path / "src" / "classes.csv").write_text(f"value,class\n1,'{name}\n2,=x\n")
    refused(lambda: import_labels(tmp_path / "src", folder), folder, "classes.csv", "apostrophe")


def test_a_linked_masks_folder_is_never_written_through(folder, tmp_path):
    write(tmp_path / "src" / "a.png", labels_8bit())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (folder / "masks").symlink_to(elsewhere)
    before = snapshot(folder)
    proc = run_cli("import", "labels", str(tmp_path / "src"), str(folder))
    one_line_error(proc, "masks", "link")
    assert not any(elsewhere.iterdir()) and snapshot(folder) == before
    assert not (folder / "classes.csv").exists()


def test_masks_swapped_for_a_link_during_the_import_is_refused(folder, tmp_path, monkeypatch):
    from export import area_importers

    f = geojson(tmp_path / "q" / "a.geojson", collection(feature([square(0, 0, 3, 3)], "T")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    read = area_importers.read_geojson

    def swapped_meanwhile(path, detections=False):
        (folder / "masks").symlink_to(elsewhere)
        return read(path, detections)

    monkeypatch.setattr(area_importers, "read_geojson", swapped_meanwhile)
    with pytest.raises(BadInput, match="masks.*link"):
        import_qupath(f, folder)
    assert not any(elsewhere.iterdir()) and not (folder / "classes.csv").exists()


def test_a_linked_classes_csv_is_replaced_never_written_through(folder, tmp_path):
    shared = tmp_path / "shared-classes.csv"
    shared.write_text("value,class\n1,tumor\n")
    (folder / "classes.csv").symlink_to(shared)
    f = geojson(tmp_path / "q" / "a.geojson", collection(feature([square(0, 0, 3, 3)], "Necrosis")))
    assert import_qupath(f, folder).classes == {1: "tumor", 2: "Necrosis"}
    assert shared.read_text() == "value,class\n1,tumor\n"
    assert not (folder / "classes.csv").is_symlink()
    assert classes(folder) == "value,class\n1,tumor\n2,Necrosis\n"


def test_a_failed_write_puts_back_a_linked_mask_as_the_link(folder, tmp_path, monkeypatch):
    from export import area_target

    secret = tmp_path / "secret.png"
    write(secret, np.full((H, W), 7, np.uint8))
    secret_bytes = secret.read_bytes()
    (folder / "masks").mkdir()
    (folder / "masks" / "a.png").symlink_to(secret)
    (folder / "classes.csv").write_text("value,class\n1,x\n7,y\n")
    write(tmp_path / "src" / "a.png", labels_8bit())
    write(tmp_path / "src" / "b.png", labels_8bit())
    real = area_target.write_atomic
    calls = []

    def flaky(path, data):
        calls.append(path)
        if len(calls) == 3:  # classes.csv, a mask, then the disk fills up
            raise OSError("No space left on device")
        real(path, data)

    monkeypatch.setattr(area_target, "write_atomic", flaky)
    with pytest.raises(OSError):
        import_labels(tmp_path / "src", folder, replace=True)
    assert os.readlink(folder / "masks" / "a.png") == str(secret)
    assert secret.read_bytes() == secret_bytes
    assert classes(folder) == "value,class\n1,x\n7,y\n"


def test_qupath_files_without_an_image_twice_for_one_or_over_a_mask_are_refused(folder, tmp_path):
    doc = collection(feature([square(0, 0, 3, 3)], "T"))
    f = geojson(tmp_path / "q" / "c.geojson", doc)
    refused(lambda: import_qupath(f, folder), folder, "c.geojson", "no image c.*")
    f.unlink()
    geojson(tmp_path / "q" / "a.geojson", doc)
    geojson(tmp_path / "q" / "a.png.json", doc)
    refused(lambda: import_qupath(tmp_path / "q", folder), folder, "a.png.json", "same image")
    (tmp_path / "q" / "a.png.json").unlink()
    import_qupath(tmp_path / "q", folder)
    refused(lambda: import_qupath(tmp_path / "q", folder), folder, "a.png", "--replace")


def test_a_class_another_writer_adds_meanwhile_is_never_lost(folder, tmp_path, monkeypatch):
    from export import area_importers

    f = geojson(tmp_path / "q" / "a.geojson", collection(feature([square(0, 0, 3, 3)], "T")))
    read = area_importers.read_geojson

    def annotator_paints_meanwhile(path, detections=False):
        (folder / "classes.csv").write_text("value,class\n1,gland\n")
        return read(path, detections)

    monkeypatch.setattr(area_importers, "read_geojson", annotator_paints_meanwhile)
    with pytest.raises(BadInput, match="changed during the import"):
        import_qupath(f, folder)
    assert classes(folder) == "value,class\n1,gland\n" and not (folder / "masks").exists()


def test_a_write_that_fails_puts_back_what_it_wrote(folder, tmp_path, monkeypatch):
    from export import area_target

    write(tmp_path / "src" / "a.png", labels_8bit())
    write(tmp_path / "src" / "b.png", labels_8bit())
    calls = []

    def flaky(path, data):
        calls.append(path)
        if len(calls) == 3:  # classes.csv, a mask, then the disk fills up
            raise OSError("No space left on device")
        Path(path).write_bytes(data)

    monkeypatch.setattr(area_target, "write_atomic", flaky)
    before = snapshot(folder)
    with pytest.raises(OSError):
        import_labels(tmp_path / "src", folder)
    assert not (folder / "masks").exists()
    after = snapshot(folder)
    after.pop(".points.csv.lock")  # the folder's lock file, shared with the annotator
    assert after == before


# ---- export and round trip ------------------------------------------------------------------


def areas_folder(root: Path, masks: dict[str, np.ndarray], csv_text: str | None) -> Path:
    for stem, m in masks.items():
        write(root / "images" / f"{stem}.png", np.zeros((*m.shape, 3), np.uint8))
        write(root / "masks" / f"{stem}.png", m)
    if csv_text is not None:
        (root / "classes.csv").write_text(csv_text)
    return root


CSV = "value,class\n10,background\n20,gland\n30,lumen\n"


def test_export_qupath_one_feature_per_region_holes_as_interior_rings(tmp_path):
    m = np.zeros((H, W), np.uint8)
    m[0:4, 0:4] = 10  # background: left out unless asked for
    m[2:14, 2:14] = 20
    m[6:9, 6:9] = 30  # a lumen in the gland's hole
    m[16:20, 20:30] = 20
    src = areas_folder(tmp_path / "f", {"a": m}, CSV)
    assert export_qupath(src, tmp_path / "out") == 1
    doc = json.loads((tmp_path / "out" / "a.geojson").read_text())
    got = [
        (f["properties"]["classification"]["name"], len(f["geometry"]["coordinates"]))
        for f in doc["features"]
    ]
    assert sorted(got) == [("gland", 1), ("gland", 2), ("lumen", 1)]
    assert all(f["properties"]["objectType"] == "annotation" for f in doc["features"])
    export_qupath(src, tmp_path / "out", with_background=True)
    doc = json.loads((tmp_path / "out" / "a.geojson").read_text())
    assert len(doc["features"]) == 4


def test_export_labels_copies_masks_and_classes(tmp_path):
    m = np.zeros((H, W), np.uint8)
    m[:5] = 20
    src = areas_folder(tmp_path / "f", {"a": m}, CSV)
    assert export_labels(src, tmp_path / "out") == (1, False)
    assert (tmp_path / "out" / "a.png").read_bytes() == (src / "masks" / "a.png").read_bytes()
    assert (tmp_path / "out" / "classes.csv").read_text() == CSV
    binary = areas_folder(tmp_path / "g", {"a": (m > 0).astype(np.uint8) * 255}, None)
    assert export_labels(binary, tmp_path / "out2") == (1, True)
    assert (tmp_path / "out2" / "classes.csv").read_text() == "value,class\n255,region\n"


def masks_for_round_trip() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = []
    for blur in (0.7, 2.0, 4.0):  # smooth regions with holes and islands
        noise = cv2.GaussianBlur(rng.random((40, 56)), (0, 0), blur)
        out.append(np.digitize(noise, np.quantile(noise, [0.3, 0.55, 0.8])).astype(np.uint8) * 10)
    out.append(rng.integers(0, 4, (30, 30)).astype(np.uint8) * 10)  # noise: dots, 1-px lines
    line = np.zeros((20, 20), np.uint8)
    line[5, 2:18] = line[2:18, 9] = 20
    line[15, 15] = 30
    out.append(line)
    return out


@pytest.mark.parametrize("k", range(5))
def test_export_then_import_qupath_gives_back_the_same_mask(tmp_path, k):
    mask = masks_for_round_trip()[k]
    src = areas_folder(tmp_path / "f", {"a": mask}, CSV)
    export_qupath(src, tmp_path / "out", with_background=True)
    dest = tmp_path / "g"
    write(dest / "images" / "a.png", np.zeros((*mask.shape, 3), np.uint8))
    (dest / "classes.csv").write_text(CSV)
    import_qupath(tmp_path / "out", dest)
    assert (read_mask(dest / "masks" / "a.png") == mask).all()


# ---- the command line -----------------------------------------------------------------------


def test_cli_import_labels_and_qupath_then_export_both(folder, tmp_path):
    write(tmp_path / "src" / "a.png", labels_8bit())
    proc = run_cli("import", "labels", str(tmp_path / "src"), str(folder))
    assert proc.returncode == 0, proc.stderr
    assert b"imported 1 masks" in proc.stdout and b"1 class-1, 2 class-2" in proc.stdout
    out = tmp_path / "out"
    proc = run_cli("export", "qupath", str(folder), str(out))
    assert proc.returncode == 0 and b"wrote 1 GeoJSON files" in proc.stdout, proc.stderr
    before = read_mask(folder / "masks" / "a.png")
    proc = run_cli("import", "qupath", str(out / "a.geojson"), str(folder), "--replace")
    assert proc.returncode == 0, proc.stderr
    assert (read_mask(folder / "masks" / "a.png") == before).all()
    proc = run_cli("export", "labels", str(folder), str(tmp_path / "lab"))
    assert proc.returncode == 0 and b"(0 is unlabelled)" in proc.stdout, proc.stderr
    assert (tmp_path / "lab" / "classes.csv").read_text() == classes(folder)


def test_cli_hostile_qupath_is_one_line_exit_2_and_nothing_written(folder, tmp_path):
    before = snapshot(folder)
    f = tmp_path / "q" / "a.geojson"
    f.parent.mkdir()
    f.write_text(poly_text("NaN"))
    one_line_error(run_cli("import", "qupath", str(f), str(folder)), "a.geojson", "finite")
    f.write_text('{"a": ' + "[" * 100000 + "]" * 100000 + "}")
    one_line_error(run_cli("import", "qupath", str(f), str(folder)), "a.geojson", "nested")
    os.mkfifo(tmp_path / "q" / "b.geojson")  # a FIFO would hang a reader that opened it
    f.unlink()
    proc = run_cli("import", "qupath", str(tmp_path / "q"), str(folder), timeout=60)
    one_line_error(proc, "b.geojson", "not a regular file")
    assert snapshot(folder) == before


def test_cli_hostile_labels_is_one_line_exit_2_and_nothing_written(folder, tmp_path):
    write(tmp_path / "src" / "a.png", colour())
    before = snapshot(folder)
    one_line_error(run_cli("import", "labels", str(tmp_path / "src"), str(folder)), "colour")
    assert snapshot(folder) == before


def test_cli_a_label_image_too_large_to_decode_is_refused_from_its_header(folder, tmp_path):
    from tests.export.test_import_hostile import huge_png

    (tmp_path / "src").mkdir()
    huge_png(tmp_path / "src" / "a.png", 30000)
    before = snapshot(folder)
    t0 = time.monotonic()
    proc = run_cli("import", "labels", str(tmp_path / "src"), str(folder), timeout=60)
    one_line_error(proc, "a.png", "too large")
    assert time.monotonic() - t0 < 20 and snapshot(folder) == before


def test_cli_export_cellcounter_is_as_before(tmp_path):
    d = tmp_path / "p"
    write(d / "images" / "a.png", np.zeros((H, W, 3), np.uint8))
    (d / "points.csv").write_text("image,x,y,label\na.png,3,4,egg\n")
    proc = run_cli("export", "cellcounter", str(d), str(tmp_path / "xml"))
    assert proc.returncode == 0, proc.stderr
    said = (
        f"wrote 1 Cell Counter XML files to {tmp_path / 'xml'} (open them in Fiji's Cell Counter)"
    )
    assert proc.stdout.decode() == said + "\n"
    assert (tmp_path / "xml" / "CellCounter_a.xml").is_file()


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """The command line in this process (no start-up cost): exit code, stdout, stderr."""
    from device.cli.main import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_detections_option_paints_them(folder, tmp_path, capsys):
    cell = feature([square(10, 10, 13, 13)], "Positive")
    cell["properties"]["objectType"] = "cell"
    doc = collection(feature([square(0, 0, 3, 3)], "Tumor"), cell)
    src = str(geojson(tmp_path / "q" / "a.geojson", doc))
    code, out, err = cli(capsys, "import", "qupath", src, str(folder))
    assert code == 0 and "(classes: 1 Tumor)" in out and "--detections paints them" in err
    code, out, err = cli(capsys, "import", "qupath", src, str(folder), "--replace", "--detections")
    assert code == 0 and "(classes: 1 Tumor, 2 Positive)" in out and not err, err
    assert (read_mask(folder / "masks" / "a.png")[10:14, 10:14] == 2).all()


@pytest.mark.parametrize("fmt", ["labels", "qupath"])
def test_cli_images_option_is_refused_for_the_areas_formats(folder, tmp_path, capsys, fmt):
    write(tmp_path / "src" / "a.png", labels_8bit())
    geojson(tmp_path / "src" / "a.geojson", collection(feature([square(0, 0, 3, 3)], "T")))
    before = snapshot(folder)
    args = ["import", fmt, str(tmp_path / "src"), str(folder), "--images", str(tmp_path)]
    code, out, err = cli(capsys, *args)
    assert code == 2 and not out and len(err.splitlines()) == 1, err
    assert "--images: for the points formats" in err and "images/" in err
    assert snapshot(folder) == before


def test_cli_import_help_has_a_line_per_format(capsys, monkeypatch):
    from device.cli.main import build_parser

    monkeypatch.setenv("COLUMNS", "80")  # argparse wraps the options to the terminal
    with pytest.raises(SystemExit):
        build_parser().parse_args(["import", "--help"])
    text = capsys.readouterr().out
    for fmt in ("cellcounter", "labelme", "cvat", "napari", "dotmask", "labels", "qupath"):
        assert any(line.startswith(f"  {fmt}  ") for line in text.splitlines()), fmt
    assert max(len(line) for line in text.splitlines()) <= 80
    assert re.search(r"--images DIR\s+points formats:", text)
    assert "--detections" in text


def test_cli_export_qupath_help_says_areas_in_qupath_come_out_smaller(capsys):
    from device.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "scopecount reads them back exactly" in text
    assert "areas measured in QuPath come out slightly smaller" in text


@pytest.mark.parametrize("marker", ["masks", "classes.csv"])
def test_cli_export_cellcounter_refuses_an_areas_folder(tmp_path, capsys, marker):
    m = np.zeros((H, W), np.uint8)
    m[:5] = 20
    src = areas_folder(tmp_path / "f", {"a": m}, CSV)
    if marker == "classes.csv":  # painted with annotate, no mask saved yet
        for p in (src / "masks").iterdir():
            p.unlink()
        (src / "masks").rmdir()
    code, out, err = cli(capsys, "export", "cellcounter", str(src), str(tmp_path / "xml"))
    assert code == 2 and not out and len(err.splitlines()) == 1, err
    assert "an areas folder" in err and "export qupath" in err and "export labels" in err
    assert not (tmp_path / "xml").exists()
