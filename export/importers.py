"""Other annotation tools' files -> training folders (images/ + points.csv), and back to Fiji.

Formats: Fiji/ImageJ Cell Counter XML, LabelMe JSON (point shapes), CVAT XML (points), napari
points CSV, and dot-mask PNGs (one pixel per object). Bad files give one line naming the file
and the element.

Nothing is written until everything is read and checked: every file parsed, every image
found inside the source's image folders (a file name from a file is reduced to its base name),
every point inside its image, every label and count within limits. Then images are copied and
points.csv replaced atomically under the folder's lock (see export/pointsfile.py).
"""

from __future__ import annotations

import csv
import json
import math
import struct
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from device.errors import BadInput
from device.imageio import IMAGE_SUFFIXES, read_rgb, write_atomic
from device.names import check_class
from export import pointsfile
from export.folder import read_folder
from export.import_shapes import ShapeTally, box_centre, labelme_centre, polygon_centre

Point = tuple[float, float, str]
FORMATS = ("cellcounter", "labelme", "cvat", "napari", "dotmask")
MAX_POINTS = 100_000  # per image: far above any real count, far below a runaway mask
MAX_MASK_PIXELS = 50_000_000  # a dot mask is decoded only below this (width x height)
MAX_LABEL = 64
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


def _check_mask_size(mask_path: Path, img: Path) -> None:
    """A mask of another size would put every point at the wrong scale."""
    mw, mh = png_size(mask_path)
    ih, iw = read_rgb(img).shape[:2]
    if (mw, mh) != (iw, ih):
        raise BadInput(
            f"{mask_path}: mask is {mw}x{mh} but its image {img.name} is {iw}x{ih}"
            " (a dot mask must have its image's size)"
        )


def _sources(fmt: str, src: Path) -> list[Path]:
    pattern = {
        "cellcounter": "*.xml",
        "labelme": "*.json",
        "cvat": "*.xml",
        "napari": "*.csv",
        "dotmask": "*.png",
    }[fmt]
    if src.is_file():
        return [src]
    if not src.is_dir():
        raise BadInput(f"{src}: no such file or folder")
    files = sorted(src.glob(pattern))
    if fmt == "dotmask":  # other PNGs beside the masks (images, colour previews) are not masks
        files = [f for f in files if dotmask_image_stem(f) is not None]
    if not files:
        raise BadInput(f"{src}: no {pattern} files for format {fmt}")
    return files


def base_name(name: str, source: Path) -> str:
    """A file name from an annotation file, reduced to its last component; it is only ever
    looked up inside the source's image folders and becomes a name inside images/."""
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].strip()
    if (
        not base
        or base in (".", "..")
        or base.startswith(".")
        or any(unicodedata.category(ch).startswith("C") for ch in base)
    ):
        raise BadInput(f"{source}: image name {name[:80]!r} is not a file name")
    return base


def _inside(p: Path, d: Path) -> bool:
    return p.is_file() and p.resolve().parent == d.resolve()


def _find_image(name: str, dirs: list[Path], source: Path, by_stem: bool) -> Path:
    base = base_name(name, source)
    for d in dirs:
        candidates = (
            [d / base] if not by_stem else [d / base] + [d / (base + s) for s in IMAGE_SUFFIXES]
        )
        for p in candidates:
            if p.suffix.lower() in IMAGE_SUFFIXES and _inside(p, d):
                return p
    where = ", ".join(str(d) for d in dirs)
    raise BadInput(f"{source}: image {name[:80]!r} not found in {where} (use --images)")


def check_label(label: str, source: Path) -> None:
    if len(label) > MAX_LABEL or any(unicodedata.category(ch).startswith("C") for ch in label):
        raise BadInput(
            f"{source}: label {label[:MAX_LABEL]!r} must be one line of at most {MAX_LABEL} "
            "printable characters"
        )
    check_class(label, str(source))  # the rule every model file is held to


def _check_points(img: Path, pts: list[Point], source: Path) -> None:
    if len(pts) > MAX_POINTS:
        raise BadInput(f"{source}: {len(pts)} points on {img.name}, over the {MAX_POINTS} limit")
    rgb = read_rgb(img)
    h, w = rgb.shape[:2]
    for x, y, lab in pts:
        check_label(lab, source)
        if not (0 <= x <= w and 0 <= y <= h):
            raise BadInput(f"{source}: point ({x:g}, {y:g}) is outside {img.name} ({w}x{h})")


def import_annotations(
    fmt: str,
    src: str | Path,
    dest: str | Path,
    images: str | Path | None = None,
    label: str = "object",
    notes: list[str] | None = None,
) -> tuple[int, int]:
    """Convert; returns (images, points). Rows for other images in dest are kept. Lines for
    the user about converted or skipped shapes are appended to notes."""
    if fmt not in FORMATS:
        raise BadInput(f"{fmt}: unknown format (one of {', '.join(FORMATS)})")
    src, dest = Path(src), Path(dest)
    tally = ShapeTally()
    readers = {
        "cellcounter": read_cellcounter,
        "labelme": lambda p: read_labelme(p, tally),
        "cvat": lambda p: read_cvat(p, tally),
        "napari": lambda p: read_napari(p, label),
        "dotmask": lambda p: read_dotmask(p, label),
    }
    found: dict[str, tuple[Path, list[Point]]] = {}
    for f in _sources(fmt, src):
        dirs = [Path(images)] if images else [f.parent, f.parent / "images"]
        for name, pts in readers[fmt](f):
            img = _find_image(name, dirs, f, by_stem=fmt in ("napari", "dotmask"))
            if fmt == "dotmask":
                _check_mask_size(f, img)
            _check_points(img, pts, f)
            found[img.name] = (img, pts)
    if dest.exists() and not dest.is_dir():
        raise BadInput(f"{dest}: not a folder")
    csv_path = dest / "points.csv"
    _write(dest, csv_path, found)
    note = tally.note(str(src))
    if note and notes is not None:
        notes.append(note)
    return len(found), sum(len(p) for _, p in found.values())


def _merged(csv_path: Path, found: dict[str, tuple[Path, list[Point]]]) -> list[pointsfile.Row]:
    keep = [r for r in pointsfile.read_rows(csv_path) if r[0] not in found]
    new = [pointsfile.point_row(n, x, y, lab) for n, (_, pts) in found.items() for x, y, lab in pts]
    return keep + new


def _write(dest: Path, csv_path: Path, found: dict[str, tuple[Path, list[Point]]]) -> None:
    """Check the folder as it will be, then copy images and replace points.csv; if anything
    fails on the way, the images this call added are taken out again."""
    if dest.is_dir():
        _check_result(dest, _merged(csv_path, found), found)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    added: list[Path] = []
    with pointsfile.locked(dest):
        rows = _merged(csv_path, found)  # again, under the lock: rows added meanwhile stay
        _check_result(dest, rows, found)
        try:
            for name, (img, _) in found.items():
                target = dest / "images" / name
                if img.resolve() != target.resolve():
                    if not target.exists():
                        added.append(target)
                    write_atomic(target, img.read_bytes())
            pointsfile.write_rows(csv_path, rows)
        except BaseException:
            for t in added:
                t.unlink(missing_ok=True)
            raise


def _check_result(dest: Path, rows: list[pointsfile.Row], found: dict) -> None:
    """Rows kept from dest must still name an image there (or one being imported)."""
    have = {p.name for p in (dest / "images").iterdir()} if (dest / "images").is_dir() else set()
    for r in rows:
        if len(r) != 4:
            raise BadInput(f"{dest / 'points.csv'}: row {r!r} has {len(r)} fields, expected 4")
        if r[0] not in found and r[0] not in have:
            raise BadInput(f"{dest / 'points.csv'}: image {r[0]!r} is not in images/")


def export_cellcounter(folder: str | Path, out_dir: str | Path) -> int:
    """One CellCounter_<image>.xml per image, classes as marker types in sorted order."""
    tf = read_folder(folder)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for s in tf.samples:
        root = ET.Element("CellCounter_Marker_File")
        props = ET.SubElement(root, "Image_Properties")
        ET.SubElement(props, "Image_Filename").text = s.name
        data = ET.SubElement(root, "Marker_Data")
        ET.SubElement(data, "Current_Type").text = "1"
        for t, cls in enumerate(tf.classes, 1):
            mt = ET.SubElement(data, "Marker_Type")
            ET.SubElement(mt, "Type").text = str(t)
            ET.SubElement(mt, "Name").text = cls
            for x, y, lab in s.points:
                if lab == cls:
                    m = ET.SubElement(mt, "Marker")
                    ET.SubElement(m, "MarkerX").text = str(int(round(x)))
                    ET.SubElement(m, "MarkerY").text = str(int(round(y)))
                    ET.SubElement(m, "MarkerZ").text = "1"
        ET.indent(root)
        ET.ElementTree(root).write(
            out / f"CellCounter_{Path(s.name).stem}.xml", encoding="UTF-8", xml_declaration=True
        )
    return len(tf.samples)
