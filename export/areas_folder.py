"""Areas training folders: images/ plus masks/NAME.png (one grey value per class), validated
with clear errors; the one owner of this layout (folder.py is its sibling for points).

Two conventions. With classes.csv (`value,class`), value 0 is unlabelled and ignored, so a
few scribbles are enough (as in ilastik), and a class named `background` is the background
channel. Without it, a mask of only 0 and 255 is fully labelled: 255 is the one class (named by
areas.csv's class column, else `region`) and 0 is background.

Training labels, as AreaSample.labels() gives them: -1 ignored, 0 background, k user class k.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from device.core.csvsafe import csv_line, restore
from device.core.errors import BadInput
from device.core.imageio import IMAGE_SUFFIXES, read_rgb
from device.core.names import check_class
from device.core.text import printable, printable_path
from device.records.dayfolder import DayFolder
from export.csv_rows import csv_rows

CLASSES_HEADER = ["value", "class"]
AREAS_HEADER = ["image", "class", "fraction"]
DEFAULT_CLASS = "region"
BACKGROUND = "background"
IGNORE = -1
_MAX_VALUE = 65535  # a 16-bit mask holds at most this many classes
_UNKNOWN = -2  # in the lookup table: a mask value no class claims


@dataclass
class AreaSample:
    name: str  # the image's file name inside images/
    path: Path
    mask_path: Path
    width: int
    height: int
    # mask value -> training label; the default is the 0/255 convention (no classes.csv)
    value_labels: dict[int, int] = field(default_factory=lambda: {0: 0, 255: 1}, repr=False)

    def image(self) -> np.ndarray:
        return read_rgb(self.path)

    def labels(self) -> np.ndarray:
        """HxW int64 training labels. The mask is checked again: it may have changed on disk
        since the folder was read, and a wrong label would teach silently."""
        mask = _sized_mask(self.mask_path, self.name, self.width, self.height)
        lut = np.full(_MAX_VALUE + 1, _UNKNOWN, np.int64)
        for value, label in self.value_labels.items():
            lut[value] = label
        out = lut[mask]
        if (out == _UNKNOWN).any():
            bad = int(mask[out == _UNKNOWN][0])
            raise BadInput(f"{printable_path(self.mask_path)}: value {bad} is not a known class")
        return out


@dataclass
class AreasFolder:
    root: Path
    samples: list[AreaSample]
    classes: list[str]  # user classes in mask-value order; background is label 0, not here
    left_out: list[str] = field(default_factory=list)  # images without a mask yet

    def content_hash(self) -> str:
        """sha256 over images, masks and classes, so that a model names the data it saw."""
        h = hashlib.sha256()
        h.update(repr(self.classes).encode())
        for s in sorted(self.samples, key=lambda s: s.name):
            h.update(s.name.encode())
            h.update(hashlib.sha256(s.path.read_bytes()).digest())
            h.update(hashlib.sha256(s.mask_path.read_bytes()).digest())
            # the same mask means other labels when classes.csv moves background
            h.update(repr(sorted(s.value_labels.items())).encode())
        return h.hexdigest()

    def subset(self, names: list[str]) -> AreasFolder:
        keep = set(names)
        return AreasFolder(self.root, [s for s in self.samples if s.name in keep], self.classes)


def is_areas_folder(root: str | Path) -> bool:
    """Whether `train FOLDER` should train areas: the folder holds masks/."""
    return (Path(root) / "masks").is_dir()


def read_mask(path: Path, what: str = "mask") -> np.ndarray:
    """A mask (or an imported label image: `what`) as an HxW uint8 or uint16 array; BadInput
    names the file when it is not one."""
    where = printable_path(path)
    if not path.is_file():  # a folder or a FIFO: refused before the reader hangs on it
        raise BadInput(f"{where}: not a regular file (a {what} is a grey png or tif)")
    try:
        m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:  # OpenCV raises past OPENCV_IO_MAX_IMAGE_PIXELS
        raise BadInput(f"{where}: not a readable {what} (too large or damaged)") from None
    if m is None:
        raise BadInput(f"{where}: not a readable {what} (a grey png or tif expected)")
    if m.dtype not in (np.uint8, np.uint16):
        raise BadInput(f"{where}: {what} is {m.dtype}, expected 8- or 16-bit whole numbers")
    if m.ndim == 3:
        # Paint programs save grey as RGB(A); alpha is left aside (it is not a class value).
        grey = m[..., 0]
        if m.shape[2] not in (3, 4) or (m[..., 1:3] != grey[..., None]).any():
            raise BadInput(f"{where}: colour {what}; a {what} is grey, one value per class")
        m = grey
    return np.ascontiguousarray(m)


def read_areas_folder(root: str | Path) -> AreasFolder:
    """Read and validate an areas training folder; BadInput names the file and the problem.
    Images without a mask are left out (named in `left_out`)."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(
            f"{printable_path(root)}: not a folder (an areas folder holds images/ and masks/)"
        )
    img_dir, mask_dir = root / "images", root / "masks"
    for d in (img_dir, mask_dir):
        if not d.is_dir():
            raise BadInput(f"{printable_path(root)}: no {d.name}/ folder inside")
    images = _list_images(img_dir)
    masks = _list_masks(mask_dir)
    for stem, m in masks.items():
        if stem not in images:
            raise BadInput(
                f"{printable_path(m)}: mask without an image (no images/{printable(stem)}.*)"
            )
    with_csv = (root / "classes.csv").exists()
    if with_csv:
        value_labels, classes = _read_classes(root / "classes.csv")
    else:
        classes = [_single_class_name(root / "areas.csv")]
        value_labels = {0: 0, 255: 1}
    # A bench's day folder is an areas folder; its voided captures are not training data.
    day = DayFolder(root)
    voided = day.voided_images() if day.records_path.exists() else set()
    samples, left_out = [], []
    for stem, path in sorted(images.items(), key=lambda kv: kv[1].name):
        if path.name in voided:
            continue
        if stem not in masks:
            left_out.append(path.name)
            continue
        samples.append(_sample(path, masks[stem], value_labels, with_csv))
    if not samples:
        raise BadInput(f"{printable_path(mask_dir)}: no image has a mask yet")
    return AreasFolder(root, samples, classes, left_out)


def image_files(root: Path) -> dict[str, Path]:
    """images/ of an areas folder by stem (the name its mask takes), checked as for training."""
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise BadInput(f"{printable_path(root)}: no images/ folder inside")
    return _list_images(img_dir)


def read_class_names(path: Path) -> dict[int, str]:
    """classes.csv as mask value -> class name, held to every check training makes."""
    _read_classes(path)
    return {int(row[0]): restore(row[1]) for _, row in csv_rows(path, CLASSES_HEADER)}


def classes_csv(named: dict[int, str]) -> bytes:
    """The text of a classes.csv naming these mask values (a name a spreadsheet would run as a
    formula gets a quote, which read_class_names takes off again)."""
    rows = [csv_line(CLASSES_HEADER)] + [csv_line([v, named[v]]) for v in sorted(named)]
    return "".join(rows).encode("utf-8")


def _list_images(img_dir: Path) -> dict[str, Path]:
    images: dict[str, Path] = {}
    for p in sorted(img_dir.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        # The stem names the mask file: a separator in it would reach outside masks/.
        if "\\" in p.stem or p.stem in ("", ".", ".."):
            raise BadInput(f"{printable_path(p)}: file name cannot name a mask (rename the image)")
        if p.stem in images:
            raise BadInput(
                f"{printable_path(p)}: {printable(images[p.stem].name)} has the same name, so "
                f"masks/{printable(p.stem)}.png would belong to both"
            )
        images[p.stem] = p
    if not images:
        raise BadInput(f"{printable_path(img_dir)}: empty folder (no png, jpg or tif images)")
    return images


def _list_masks(mask_dir: Path) -> dict[str, Path]:
    masks: dict[str, Path] = {}
    for p in sorted(mask_dir.iterdir()):
        suffix = p.suffix.lower()
        if suffix in IMAGE_SUFFIXES and suffix != ".png":
            # jpg blurs the values at every edge; tif/bmp are left out to keep one mask format
            raise BadInput(f"{printable_path(p)}: a mask is a png (lossless), not {suffix}")
        if suffix != ".png":
            continue  # notes, thumbnails: not masks
        if p.stem in masks:
            raise BadInput(f"{printable_path(p)}: a second mask for {printable(p.stem)}")
        masks[p.stem] = p
    return masks


def _sized_mask(path: Path, image_name: str, width: int, height: int) -> np.ndarray:
    mask = read_mask(path)
    if mask.shape != (height, width):
        raise BadInput(
            f"{printable_path(path)}: mask is {mask.shape[1]}x{mask.shape[0]}, "
            f"its image {printable(image_name)} is {width}x{height}"
        )
    return mask


def _sample(
    image: Path, mask_path: Path, value_labels: dict[int, int], with_csv: bool
) -> AreaSample:
    h, w = read_rgb(image).shape[:2]
    mask = _sized_mask(mask_path, image.name, w, h)
    unknown = sorted(set(np.unique(mask).tolist()) - set(value_labels))
    if unknown:
        why = (
            "is not in classes.csv"
            if with_csv
            else "in a mask of more than 0 and 255 needs a classes.csv (value,class) to name it"
        )
        raise BadInput(f"{printable_path(mask_path)}: value {unknown[0]} {why}")
    return AreaSample(image.name, image, mask_path, w, h, dict(value_labels))


def _read_classes(path: Path) -> tuple[dict[int, int], list[str]]:
    """classes.csv as (mask value -> training label, user classes in value order)."""
    named: dict[int, str] = {}
    seen: dict[str, int] = {}
    for n, row in csv_rows(path, CLASSES_HEADER):
        where = f"{printable_path(path)}: row {n}"
        if len(row) != 2:
            raise BadInput(f"{where}: {len(row)} fields, expected 2 (value,class)")
        text, name = row[0], check_class(restore(row[1]), where)
        # ASCII digits only: int() takes '²' and thousands of digits badly
        if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= _MAX_VALUE:
            # 0 cannot be a class: it is what a person has not painted
            raise BadInput(
                f"{where}: value {printable(text)!r} is not a whole number 1-{_MAX_VALUE} "
                "(0 is unlabelled)"
            )
        value = int(text)
        if value in named:
            raise BadInput(f"{where}: value {value} is listed twice")
        key = name.casefold()  # Gland and gland would be two classes nobody can tell apart
        if key in seen:
            raise BadInput(f"{where}: class {printable(name)!r} is listed twice")
        named[value], seen[key] = name, value
    value_labels = {0: IGNORE}
    classes: list[str] = []
    for value in sorted(named):
        if named[value].casefold() == BACKGROUND:
            value_labels[value] = 0
        else:
            classes.append(named[value])
            value_labels[value] = len(classes)
    if not classes:
        raise BadInput(f"{printable_path(path)}: no class besides background")
    return value_labels, classes


def _single_class_name(areas_csv: Path) -> str:
    """The 255 class's name: areas.csv's class column when it names one class, else region."""
    if not areas_csv.exists():
        return DEFAULT_CLASS
    names: set[str] = set()
    for n, row in csv_rows(areas_csv, AREAS_HEADER):
        if len(row) > 1 and row[1]:
            names.add(check_class(restore(row[1]), f"{printable_path(areas_csv)}: row {n}"))
    # 'background' cannot name the 255 class: 0 is the background here
    one = names.pop() if len(names) == 1 else BACKGROUND
    return DEFAULT_CLASS if one.casefold() == BACKGROUND else one
