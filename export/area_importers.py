"""Other tools' area labels -> an areas training folder (masks/STEM.png and classes.csv).

`labels`: label images (png or tif, 8- or 16-bit, one channel), one per image, named like it;
values named by the source's classes.csv, else value v is class `class-v`; 0 stays unlabelled.
`qupath`: QuPath's GeoJSON export of classified annotations, and detections when asked for
(export/qupath_geojson.py).

The folder must already hold the images (images/STEM.*). Class names are data: checked with
check_class and only ever written into classes.csv, never into a path; file names come from the
folder's images. How values are given and how the folder is written: export/area_target.py.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from device.core.errors import BadInput
from device.core.imageio import IMAGE_SUFFIXES, read_rgb
from device.core.text import printable, printable_path
from export.area_target import (
    MAX_VALUE,
    AreaImport,
    check_new_class,
    commit,
    open_target,
    png,
)
from export.areas_folder import BACKGROUND, read_class_names, read_mask
from export.qupath_geojson import check_inside, rasterise, read_geojson

LABEL_SUFFIXES = (".png", ".tif", ".tiff")
GEOJSON_SUFFIXES = (".geojson", ".json")


def _by_stem(files: list[Path]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        if f.stem in out:
            raise BadInput(
                f"{printable_path(f)}: {printable(out[f.stem].name)} has the same name; "
                "which one is meant?"
            )
        out[f.stem] = f
    return out


def _image_size(image: Path) -> tuple[int, int]:
    h, w = read_rgb(image).shape[:2]
    return w, h


def read_label_image(path: Path) -> np.ndarray:
    """An HxW uint8 or uint16 label image; BadInput names the file when it is not one."""
    return read_mask(path, "label image")


def _sized_labels(path: Path, image: Path) -> np.ndarray:
    labels = read_label_image(path)
    w, h = _image_size(image)
    if labels.shape != (h, w):
        raise BadInput(
            f"{printable_path(path)}: labels are {labels.shape[1]}x{labels.shape[0]}, "
            f"its image {printable(image.name)} is {w}x{h}"
        )
    return labels


def import_labels(src: str | Path, folder: str | Path, replace: bool = False) -> AreaImport:
    """Label images in SRC (STEM.png/.tif for images/STEM.*) -> masks/STEM.png. Values are
    named by SRC/classes.csv, else value v is class `class-v`; 0 stays unlabelled."""
    src = Path(src)
    if not src.is_dir():
        raise BadInput(f"{printable_path(src)}: not a folder of label images")
    files: list[Path] = []
    for p in sorted(src.iterdir()):
        suffix = p.suffix.lower()
        if suffix in LABEL_SUFFIXES:
            files.append(p)
        elif suffix in IMAGE_SUFFIXES:  # jpg blurs the values at every edge
            raise BadInput(f"{printable_path(p)}: a label image is png or tif (lossless)")
    if not files:
        raise BadInput(f"{printable_path(src)}: no png or tif label images")
    by_stem = _by_stem(files)
    target = open_target(folder)
    target.check_writable(list(by_stem), replace)
    pairs: dict[str, tuple[Path, Path]] = {}
    for stem, f in by_stem.items():
        if stem not in target.images:
            raise BadInput(
                f"{printable_path(f)}: no image {printable(stem)}.* in the folder's images/"
            )
        pairs[stem] = (f, target.images[stem])
    names: dict[int, str] | None = None
    if (src / "classes.csv").exists():
        names = read_class_names(src / "classes.csv")
        for name in names.values():
            check_new_class(name, printable_path(src / "classes.csv"))
    used: set[int] = set()
    for f, image in pairs.values():  # read once to check and collect, again to write
        found = _values(_sized_labels(f, image))
        unnamed = sorted(found - set(names)) if names is not None else []
        if unnamed:
            raise BadInput(f"{printable_path(f)}: value {unnamed[0]} is not in classes.csv")
        used |= found
    if not used:
        raise BadInput(f"{printable_path(src)}: every label image is all 0 (unlabelled)")
    if len(used) > MAX_VALUE:
        raise BadInput(
            f"{printable_path(src)}: {len(used)} label values, over {MAX_VALUE} classes "
            "(one value per object is an instance label image; areas need one per class)"
        )
    order = sorted(used)
    table = target.table()
    given = table.assign([(names[v] if names is not None else f"class-{v}", v) for v in order])
    lut = np.zeros(65536, np.uint8)
    lut[order] = given
    masks = {}
    for stem, (f, image) in pairs.items():
        labels = _sized_labels(f, image)
        if not _values(labels) <= used:  # it changed since the first read
            raise BadInput(f"{printable_path(f)}: changed while it was read")
        masks[stem] = png(lut[labels])
    commit(target, masks, table.named, replace)
    notes = [
        f"label value {v} ({printable(table.named[g])}) is mask value {g} (classes.csv)"
        for v, g in zip(order, given, strict=True)
        if v != g
    ]
    return AreaImport(len(masks), table.named, notes)


def _values(labels: np.ndarray) -> set[int]:
    """The non-zero values in a label image (bincount: far faster than unique on 16-bit)."""
    return set(np.flatnonzero(np.bincount(labels.ravel())).tolist()) - {0}


def _geojson_files(src: Path) -> list[Path]:
    if src.is_file():
        if src.suffix.lower() not in GEOJSON_SUFFIXES:
            raise BadInput(f"{printable_path(src)}: not a .geojson or .json file")
        return [src]
    if not src.is_dir():
        raise BadInput(f"{printable_path(src)}: no such file or folder")
    files = [p for p in sorted(src.iterdir()) if p.suffix.lower() in GEOJSON_SUFFIXES]
    if not files:
        raise BadInput(f"{printable_path(src)}: no .geojson or .json files")
    return files


def import_qupath(
    src: str | Path,
    folder: str | Path,
    replace: bool = False,
    fill_background: bool = False,
    detections: bool = False,
) -> AreaImport:
    """QuPath GeoJSON (STEM.geojson for images/STEM.*) -> masks/STEM.png: annotations (and
    detections, with `detections`) painted in file order, the rest 0 (unlabelled), or
    `background` with fill_background."""
    by_stem = _by_stem(_geojson_files(Path(src)))
    target = open_target(folder)
    names = {p.name: stem for stem, p in target.images.items()}
    # QuPath names an export after the image, with or without its extension
    stems = {s: s if s in target.images else names.get(s, s) for s in by_stem}
    if len(set(stems.values())) < len(stems):
        twice = sorted(k for k in stems if list(stems.values()).count(stems[k]) > 1)
        raise BadInput(
            f"{printable_path(by_stem[twice[-1]])}: {printable(by_stem[twice[0]].name)} is for "
            "the same image; which one is its annotations?"
        )
    target.check_writable(list(stems.values()), replace)
    parsed = {}
    skipped: Counter[str] = Counter()
    for key, f in by_stem.items():
        stem = stems[key]
        if stem not in target.images:
            raise BadInput(
                f"{printable_path(f)}: no image {printable(stem)}.* in the folder's images/"
            )
        annotations, skips = read_geojson(f, detections)
        skipped += skips
        if not annotations and not fill_background:
            raise BadInput(
                f"{printable_path(f)}: no classified polygon annotations to import"
                + (f" ({_said(skips)})" if skips else "")
            )
        w, h = _image_size(target.images[stem])
        check_inside(annotations, w, h, printable_path(f))
        parsed[stem] = (annotations, w, h)
    table = target.table()
    wanted = [(a.name, None) for anns, _, _ in parsed.values() for a in anns]
    if fill_background:
        wanted.insert(0, (BACKGROUND, None))
    given = table.assign(wanted)
    values = {n.casefold(): v for (n, _), v in zip(wanted, given, strict=True)}
    fill = values[BACKGROUND] if fill_background else 0
    masks = {s: png(rasterise(anns, values, w, h, fill)) for s, (anns, w, h) in parsed.items()}
    commit(target, masks, table.named, replace)
    notes = [f"{printable_path(src)}: skipped {_said(skipped)}"] if skipped else []
    return AreaImport(len(masks), table.named, notes)


def _said(skipped: Counter[str]) -> str:
    return ", ".join(f"{n} features {why}" for why, n in sorted(skipped.items()))
