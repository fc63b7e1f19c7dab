"""An areas training folder -> other tools' formats: QuPath GeoJSON (one FeatureCollection per
mask, export/qupath_geojson.py) and label images (the masks as they are, with classes.csv).

The folder is read and checked whole (export/areas_folder.py) before anything is written; files
are written atomically, one per image, named after the mask (never after a class).
"""

from __future__ import annotations

import json
from pathlib import Path

from device.core.errors import BadInput
from device.core.imageio import write_atomic
from device.core.text import printable_path
from export.areas_folder import (
    BACKGROUND,
    AreasFolder,
    classes_csv,
    read_areas_folder,
    read_class_names,
    read_mask,
)
from export.qupath_geojson import mask_features


def value_names(folder: AreasFolder) -> dict[int, str]:
    """Mask value -> class name. Without classes.csv a mask is 0 = background, 255 = the class;
    with one, 0 is unlabelled and names nothing."""
    csv_path = folder.root / "classes.csv"
    if csv_path.exists():
        return read_class_names(csv_path)
    return {0: BACKGROUND, 255: folder.classes[0]}


def _out_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BadInput(f"{printable_path(out)}: not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def export_qupath(folder: str | Path, out_dir: str | Path, with_background: bool = False) -> int:
    """OUT_DIR/STEM.geojson for every mask: one annotation per connected region per class;
    the background class only with_background. Returns how many files were written."""
    af = read_areas_folder(folder)
    names = value_names(af)
    if not with_background:
        names = {v: n for v, n in names.items() if n.casefold() != BACKGROUND}
    out = _out_dir(out_dir)
    for s in af.samples:
        doc = mask_features(read_mask(s.mask_path), names)
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
        write_atomic(out / f"{s.mask_path.stem}.geojson", text.encode("utf-8"))
    return len(af.samples)


def export_labels(folder: str | Path, out_dir: str | Path) -> tuple[int, bool]:
    """OUT_DIR/STEM.png (the masks, byte for byte) and OUT_DIR/classes.csv. Returns how many
    masks, and whether 0 means background (a folder without classes.csv) not unlabelled."""
    af = read_areas_folder(folder)
    names = value_names(af)
    zero_is_background = 0 in names
    out = _out_dir(out_dir)
    for s in af.samples:
        write_atomic(out / s.mask_path.name, s.mask_path.read_bytes())
    # classes.csv cannot name 0 (it is "unlabelled" there): a 0/255 folder's background is
    # said on the command line instead
    write_atomic(out / "classes.csv", classes_csv({v: n for v, n in names.items() if v}))
    return len(af.samples), zero_is_background
