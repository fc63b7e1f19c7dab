"""Other annotation tools' files -> training folders (images/ + points.csv), and back to Fiji.

Formats: Fiji/ImageJ Cell Counter XML, LabelMe JSON (point shapes), CVAT XML (points), napari
points CSV, and dot-mask PNGs (one pixel per object). Bad files give one line naming the file
and the element.
"""

from __future__ import annotations

import csv
import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from device.errors import BadInput
from device.imageio import IMAGE_SUFFIXES, read_rgb
from export.folder import HEADER, read_folder

Point = tuple[float, float, str]
FORMATS = ("cellcounter", "labelme", "cvat", "napari", "dotmask")


def _parse_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise BadInput(f"{path}: not well-formed XML ({e})") from None


def _num(path: Path, what: str, text: str | None) -> float:
    try:
        return float(text or "")
    except ValueError:
        raise BadInput(f"{path}: {what} is not a number: {text!r}") from None


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


def read_labelme(path: Path) -> Iterator[tuple[str, list[Point]]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise BadInput(f"{path}: not valid JSON ({e})") from None
    if not isinstance(doc, dict) or "shapes" not in doc or "imagePath" not in doc:
        raise BadInput(f"{path}: not a LabelMe file (needs imagePath and shapes)")
    points: list[Point] = []
    for i, sh in enumerate(doc["shapes"]):
        if not isinstance(sh, dict) or sh.get("shape_type", "point") != "point":
            continue
        pts = sh.get("points")
        if not (isinstance(pts, list) and len(pts) == 1 and len(pts[0]) == 2):
            raise BadInput(f"{path}: shapes[{i}].points must be one [x, y] pair")
        label = str(sh.get("label") or "").strip()
        if not label:
            raise BadInput(f"{path}: shapes[{i}].label is empty")
        x = _num(path, f"shapes[{i}].points x", str(pts[0][0]))
        y = _num(path, f"shapes[{i}].points y", str(pts[0][1]))
        points.append((x, y, label))
    yield Path(str(doc["imagePath"]).replace("\\", "/")).name, points


def read_cvat(path: Path) -> Iterator[tuple[str, list[Point]]]:
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
                xs, _, ys = pair.partition(",")
                x = _num(path, f"<image name={name!r}> <points> {k} x", xs)
                y = _num(path, f"<image name={name!r}> <points> {k} y", ys)
                points.append((x, y, label))
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
    mask = _read_mask(path)
    ys, xs = np.nonzero(mask)
    yield stem, [(float(x) + 0.5, float(y) + 0.5, label) for x, y in zip(xs, ys, strict=True)]


def _read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        raise BadInput(f"{path}: not a readable PNG")
    return mask[..., :3].max(axis=2) if mask.ndim == 3 else mask


def _check_mask_size(mask_path: Path, img: Path) -> None:
    """A mask of another size would put every point at the wrong scale."""
    mh, mw = _read_mask(mask_path).shape[:2]
    shape = read_rgb(img).shape
    if (mh, mw) != shape[:2]:
        raise BadInput(
            f"{mask_path}: mask is {mw}x{mh} but its image {img.name} is {shape[1]}x{shape[0]}"
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


def _find_image(name: str, dirs: list[Path]) -> Path:
    for d in dirs:
        p = d / name
        if p.is_file():
            return p
        for suffix in IMAGE_SUFFIXES:  # napari and dot masks name images by stem
            if (d / (name + suffix)).is_file():
                return d / (name + suffix)
    raise BadInput(f"image {name!r} not found in {', '.join(str(d) for d in dirs)} (use --images)")


def import_annotations(
    fmt: str,
    src: str | Path,
    dest: str | Path,
    images: str | Path | None = None,
    label: str = "object",
) -> tuple[int, int]:
    """Convert; returns (images, points). Rows for other images in dest are kept."""
    if fmt not in FORMATS:
        raise BadInput(f"{fmt}: unknown format (one of {', '.join(FORMATS)})")
    src, dest = Path(src), Path(dest)
    readers = {
        "cellcounter": read_cellcounter,
        "labelme": read_labelme,
        "cvat": read_cvat,
        "napari": lambda p: read_napari(p, label),
        "dotmask": lambda p: read_dotmask(p, label),
    }
    found: dict[str, tuple[Path, list[Point]]] = {}
    for f in _sources(fmt, src):
        dirs = [Path(images)] if images else [f.parent, f.parent / "images"]
        for name, pts in readers[fmt](f):
            img = _find_image(name, dirs)
            if fmt == "dotmask":
                _check_mask_size(f, img)
            found[img.name] = (img, pts)
    (dest / "images").mkdir(parents=True, exist_ok=True)
    keep: list[list[str]] = []
    csv_path = dest / "points.csv"
    if csv_path.exists():
        with open(csv_path, newline="", encoding="utf-8") as f:
            keep = [r for r in list(csv.reader(f))[1:] if r and r[0] not in found]
    for name, (img, _) in found.items():
        target = dest / "images" / name
        if img.resolve() != target.resolve():
            shutil.copyfile(img, target)
    tmp = csv_path.with_name(".points.csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(keep)
        for name, (_, pts) in found.items():
            w.writerows([name, f"{x:.2f}", f"{y:.2f}", lab] for x, y, lab in pts)
    tmp.replace(csv_path)
    read_folder(dest)  # the result must be a valid training folder (points inside images)
    return len(found), sum(len(p) for _, p in found.values())


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
