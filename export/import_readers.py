"""Readers for other annotation tools' files: each yields (image name, points) per image.

Fiji/ImageJ Cell Counter XML, LabelMe JSON (point shapes), CVAT XML (points), napari points
CSV, and dot-mask PNGs (one pixel per object). A bad file gives one line naming the file and
the element; the checks on what the files name (images, labels, point positions) are made by
export/importers.py before anything is written.
"""

from __future__ import annotations

import csv
import json
import math
import struct
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from device.core.errors import BadInput
from device.core.imageio import read_rgb
from export.import_shapes import ShapeTally, box_centre, labelme_centre, polygon_centre

Point = tuple[float, float, str]
MAX_POINTS = 100_000  # per image: far above any real count, far below a runaway mask
MAX_MASK_PIXELS = 50_000_000  # a dot mask is decoded only below this (width x height)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _parse_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise BadInput(f"{path}: not well-formed XML ({e})") from None


def _num(path: Path, what: str, text: str | None) -> float:
    try:
        v = float(text or "")
    except ValueError:
        raise BadInput(f"{path}: {what} is not a number: {text!r}") from None
    if not math.isfinite(v):
        raise BadInput(f"{path}: {what} is not a finite number: {text!r}")
    return v


def read_cellcounter(path: Path) -> Iterator[tuple[str, list[Point]]]:
    root = _parse_xml(path)
    if root.tag != "CellCounter_Marker_File":
        raise BadInput(f"{path}: root element <{root.tag}>, expected <CellCounter_Marker_File>")
    name = (root.findtext("Image_Properties/Image_Filename") or "").strip()
    if not name:
        raise BadInput(f"{path}: <Image_Properties>/<Image_Filename> is missing")
    points: list[Point] = []
    for i, mt in enumerate(root.iterfind("Marker_Data/Marker_Type"), 1):
        label = (mt.findtext("Name") or "").strip() or f"type{(mt.findtext('Type') or i).strip()}"
        for j, m in enumerate(mt.iterfind("Marker"), 1):
            where = f"<Marker_Type> {i} <Marker> {j}"
            x = _num(path, f"{where} <MarkerX>", m.findtext("MarkerX"))
            y = _num(path, f"{where} <MarkerY>", m.findtext("MarkerY"))
            points.append((x, y, label))
    yield name, points


def _pair(q: object) -> bool:
    return isinstance(q, list) and len(q) == 2


def read_labelme(path: Path, tally: ShapeTally) -> Iterator[tuple[str, list[Point]]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or "shapes" not in doc or "imagePath" not in doc:
        raise BadInput(f"{path}: not a LabelMe file (needs imagePath and shapes)")
    if not isinstance(doc["shapes"], list):
        raise BadInput(f"{path}: shapes must be a list")
    points: list[Point] = []
    for i, sh in enumerate(doc["shapes"]):
        if not isinstance(sh, dict):
            raise BadInput(f"{path}: shapes[{i}] is not an object")
        kind = str(sh.get("shape_type") or "point")
        pts = sh.get("points")
        if not (isinstance(pts, list) and pts and all(_pair(q) for q in pts)):
            raise BadInput(f"{path}: shapes[{i}].points must be a list of [x, y] pairs")
        label = str(sh.get("label") or "").strip()
        if not label:
            raise BadInput(f"{path}: shapes[{i}].label is empty")
        xy = [
            (
                _num(path, f"shapes[{i}].points x", str(q[0])),
                _num(path, f"shapes[{i}].points y", str(q[1])),
            )
            for q in pts
        ]
        if kind == "point":
            if len(xy) != 1:
                raise BadInput(f"{path}: shapes[{i}].points must be one [x, y] pair")
            centre: tuple[float, float] | None = xy[0]
        else:
            centre = labelme_centre(kind, xy)
            (tally.converted if centre else tally.skipped)[kind + "s"] += 1
        if centre is not None:
            points.append((centre[0], centre[1], label))
    yield Path(str(doc["imagePath"]).replace("\\", "/")).name, points


def _cvat_xy(path: Path, name: str, tag: str, k: int, pair: str) -> tuple[float, float]:
    xs, _, ys = pair.partition(",")
    where = f"<image name={name!r}> <{tag}> {k}"
    return _num(path, f"{where} x", xs), _num(path, f"{where} y", ys)


def read_cvat(path: Path, tally: ShapeTally) -> Iterator[tuple[str, list[Point]]]:
    root = _parse_xml(path)
    if root.tag != "annotations":
        raise BadInput(f"{path}: root element <{root.tag}>, expected <annotations> (CVAT 1.1)")
    for img in root.iterfind("image"):
        name = img.get("name")
        if not name:
            raise BadInput(f"{path}: <image id={img.get('id')!r}> has no name")
        points: list[Point] = []
        for k, el in enumerate(img.iterfind("points"), 1):
            label = el.get("label") or ""
            raw = el.get("points") or ""
            if not label or not raw:
                raise BadInput(f"{path}: <image name={name!r}> <points> {k} needs label and points")
            for pair in raw.split(";"):
                points.append((*_cvat_xy(path, name, "points", k, pair), label))
        for tag in ("box", "polygon", "ellipse", "polyline", "mask", "skeleton", "cuboid"):
            for k, el in enumerate(img.iterfind(tag), 1):
                label = el.get("label") or ""
                if not label:
                    raise BadInput(f"{path}: <image name={name!r}> <{tag}> {k} has no label")
                where = f"<image name={name!r}> <{tag}> {k}"
                if tag == "box":
                    c = box_centre(
                        *(
                            _num(path, f"{where} {a}", el.get(a))
                            for a in ("xtl", "ytl", "xbr", "ybr")
                        )
                    )
                elif tag == "ellipse":
                    c = (
                        _num(path, f"{where} cx", el.get("cx")),
                        _num(path, f"{where} cy", el.get("cy")),
                    )
                elif tag == "polygon":
                    xy = [
                        _cvat_xy(path, name, tag, k, q) for q in (el.get("points") or "").split(";")
                    ]
                    c = polygon_centre(xy)
                else:
                    tally.skipped[tag + "s"] += 1
                    continue
                tally.converted[tag + "es" if tag == "box" else tag + "s"] += 1
                points.append((c[0], c[1], label))
        yield Path(name).name, points


def read_napari(path: Path, label: str) -> Iterator[tuple[str, list[Point]]]:
    """napari's points layer as CSV: axis-0 is the row (y), axis-1 the column (x)."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise BadInput(f"{path}: empty CSV")
    head = [h.strip() for h in rows[0]]
    axes = [h for h in head if h.startswith("axis-")]
    if len(axes) < 2:
        raise BadInput(f"{path}: header {head} has no axis-0/axis-1 columns (napari points CSV)")
    iy, ix = head.index(axes[-2]), head.index(axes[-1])
    il = head.index("label") if "label" in head else None
    points: list[Point] = []
    for n, row in enumerate(rows[1:], 2):
        if not row:
            continue
        y = _num(path, f"row {n} {axes[-2]}", row[iy])
        x = _num(path, f"row {n} {axes[-1]}", row[ix])
        points.append((x, y, row[il].strip() if il is not None and row[il].strip() else label))
    yield path.stem, points


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header, before any pixel is decoded."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        raise BadInput(f"{path}: cannot read ({e.strerror})") from None
    if len(head) < 24 or head[:8] != PNG_MAGIC or head[12:16] != b"IHDR":
        raise BadInput(f"{path}: not a PNG file (dot masks are PNG)")
    w, h = struct.unpack(">II", head[16:24])
    return w, h


DOTMASK_SUFFIXES = ("_dots", "-dots", "dots", "_mask", "-mask")


def dotmask_image_stem(path: Path) -> str | None:
    """'a_dots.png' -> 'a'; None for anything else (a_dots_color.png, a preview, the image)."""
    for suffix in DOTMASK_SUFFIXES:
        if path.stem.endswith(suffix) and len(path.stem) > len(suffix):
            return path.stem[: -len(suffix)]
    return None


def read_dotmask(path: Path, label: str) -> Iterator[tuple[str, list[Point]]]:
    stem = dotmask_image_stem(path)
    if stem is None:
        raise BadInput(f"{path}: a dot mask is named <image>_dots.png (or _mask.png)")
    w, h = png_size(path)
    if w * h > MAX_MASK_PIXELS:
        raise BadInput(f"{path}: {w}x{h} mask is over the {MAX_MASK_PIXELS // 1_000_000} Mpx limit")
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise BadInput(f"{path}: not a readable PNG")
    if mask.ndim == 3:
        mask = mask[..., :3].max(axis=2)
    n = int(np.count_nonzero(mask))
    if n > MAX_POINTS:
        raise BadInput(
            f"{path}: {n} marked pixels, over the {MAX_POINTS} point limit "
            "(a dot mask marks one pixel per object)"
        )
    ys, xs = np.nonzero(mask)
    yield stem, [(float(x) + 0.5, float(y) + 0.5, label) for x, y in zip(xs, ys, strict=True)]


def check_mask_size(mask_path: Path, img: Path) -> None:
    """A mask of another size would put every point at the wrong scale."""
    mw, mh = png_size(mask_path)
    ih, iw = read_rgb(img).shape[:2]
    if (mw, mh) != (iw, ih):
        raise BadInput(
            f"{mask_path}: mask is {mw}x{mh} but its image {img.name} is {iw}x{ih}"
            " (a dot mask must have its image's size)"
        )
