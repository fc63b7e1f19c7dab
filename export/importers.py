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

import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

from device.core.errors import BadInput
from device.core.imageio import IMAGE_SUFFIXES, read_rgb, write_atomic
from device.core.names import check_class
from export import pointsfile
from export.folder import read_folder
from export.import_readers import (
    MAX_POINTS,
    Point,
    check_mask_size,
    dotmask_image_stem,
    read_cellcounter,
    read_cvat,
    read_dotmask,
    read_labelme,
    read_napari,
)
from export.import_shapes import ShapeTally

FORMATS = ("cellcounter", "labelme", "cvat", "napari", "dotmask")
MAX_LABEL = 64


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
                check_mask_size(f, img)
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
