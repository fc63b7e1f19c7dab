"""Landmarks training folders: images/ plus landmarks.csv (`image,landmark,x,y`), validated with
clear errors; the one owner of this layout (folder.py and areas_folder.py are its siblings).

Landmarks are numbered from 1, the same anatomical point in every image; x, y are pixels from
the top-left (y down). A landmark without a row is missing in that image (a torn wing). Names
come from an optional landmarks-names.csv (`landmark,name`), else the numbers. An image without
any row is not annotated yet and left out.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.core.csvsafe import restore
from device.core.errors import BadInput
from device.core.imageio import IMAGE_SUFFIXES, read_rgb
from device.core.names import check_class
from device.core.text import printable, printable_path
from device.records.dayfolder import DayFolder
from export.csv_rows import csv_rows

LANDMARKS_CSV = "landmarks.csv"
NAMES_CSV = "landmarks-names.csv"
HEADER = ["image", "landmark", "x", "y"]
NAMES_HEADER = ["landmark", "name"]
MAX_LANDMARKS = 200


@dataclass
class LandmarkSample:
    name: str  # the image's file name inside images/
    path: Path
    width: int
    height: int
    points: np.ndarray  # (N, 2) x, y down from the top-left; NaN rows where missing

    def image(self) -> np.ndarray:
        return read_rgb(self.path)


@dataclass
class LandmarksFolder:
    root: Path
    samples: list[LandmarkSample]
    names: list[str]  # landmark 1's name first
    left_out: list[str] = field(default_factory=list)  # images without a landmark yet

    def content_hash(self) -> str:
        """sha256 over images, landmarks and names, so that a model names the data it saw."""
        h = hashlib.sha256(repr(self.names).encode())
        for s in sorted(self.samples, key=lambda s: s.name):
            h.update(s.name.encode())
            h.update(hashlib.sha256(s.path.read_bytes()).digest())
            h.update(np.nan_to_num(s.points, nan=-1.0).tobytes())
        return h.hexdigest()

    def subset(self, names: list[str]) -> LandmarksFolder:
        keep = set(names)
        return LandmarksFolder(self.root, [s for s in self.samples if s.name in keep], self.names)


def is_landmarks_folder(root: str | Path) -> bool:
    """Whether `train FOLDER` should train landmarks: the folder holds landmarks.csv."""
    return (Path(root) / LANDMARKS_CSV).is_file()


def read_landmarks_folder(root: str | Path) -> LandmarksFolder:
    """Read and validate; BadInput naming the file, row and problem."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{printable_path(root)}: not a folder (images/ and landmarks.csv)")
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise BadInput(f"{printable_path(root)}: no images/ folder inside")
    files = {p.name: p for p in sorted(img_dir.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}
    if not files:
        raise BadInput(f"{printable_path(img_dir)}: empty folder (no png, jpg or tif images)")
    day = DayFolder(root)  # a bench's day folder: its voided captures are not training data
    voided = day.voided_images() if day.records_path.exists() else set()
    names_path = root / NAMES_CSV
    names = read_names(names_path) if names_path.exists() else None
    rows = _read_rows(root / LANDMARKS_CSV, files, voided, len(names) if names else None)
    n = len(names) if names else max(lm for pts in rows.values() for lm in pts)
    names = names or [str(k) for k in range(1, n + 1)]
    samples = []
    for image in sorted(rows):
        path = files[image]
        h, w = read_rgb(path).shape[:2]
        pts = np.full((n, 2), np.nan)
        for lm, (x, y) in rows[image].items():
            if not (0 <= x < w and 0 <= y < h):
                raise BadInput(
                    f"{printable_path(root / LANDMARKS_CSV)}: {printable(image)} landmark {lm} "
                    f"at ({x:g}, {y:g}) is outside the {w}x{h} image"
                )
            pts[lm - 1] = (x, y)
        samples.append(LandmarkSample(image, path, w, h, pts))
    left = [f for f in files if f not in rows and f not in voided]
    return LandmarksFolder(root, samples, names, left)


def read_names(path: Path) -> list[str]:
    where = printable_path(path)
    got: dict[int, str] = {}
    for line, row in csv_rows(path, NAMES_HEADER):
        if len(row) != 2:
            raise BadInput(f"{where}: row {line}: {len(row)} fields, expected landmark,name")
        lm = _number(row[0], f"{where}: row {line}")
        name = check_class(restore(row[1]), f"{where}: row {line}")
        if lm in got:
            raise BadInput(f"{where}: row {line}: landmark {lm} is named twice")
        got[lm] = name
    if sorted(got) != list(range(1, len(got) + 1)):
        raise BadInput(f"{where}: landmarks must be numbered 1 to N without gaps")
    if len(set(got.values())) != len(got):
        raise BadInput(f"{where}: two landmarks have the same name")
    return [got[k] for k in sorted(got)]


def _read_rows(
    path: Path, files: dict[str, Path], voided: set[str], n: int | None
) -> dict[str, dict[int, tuple[float, float]]]:
    where = printable_path(path)
    if not path.exists():
        raise BadInput(f"{where}: no such file (a landmarks folder has image,landmark,x,y rows)")
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for line, row in csv_rows(path, HEADER):
        at = f"{where}: row {line}"
        if len(row) != 4:
            raise BadInput(f"{at}: {len(row)} fields, expected 4 (image,landmark,x,y)")
        image = restore(row[0])  # our writers quote formula-like text
        if image in voided:
            continue
        if image not in files:
            raise BadInput(f"{at}: image {printable(image)!r} is not in images/")
        lm = _number(row[1], at)
        if n is not None and lm > n:
            raise BadInput(f"{at}: landmark {lm}, but {NAMES_CSV} names {n}")
        try:
            x, y = float(row[2]), float(row[3])
        except ValueError:
            raise BadInput(f"{at}: x={row[2][:20]!r} y={row[3][:20]!r} are not numbers") from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise BadInput(f"{at}: coordinates must be finite numbers")
        pts = out.setdefault(image, {})
        if lm in pts:
            raise BadInput(f"{at}: landmark {lm} of {printable(image)} is placed twice")
        pts[lm] = (x, y)
    if not out:
        raise BadInput(f"{where}: no landmark placed yet")
    return out


def _number(text: str, at: str) -> int:
    try:
        lm = int(text)
    except ValueError:
        lm = 0
    if not 1 <= lm <= MAX_LANDMARKS:
        raise BadInput(f"{at}: landmark {text[:20]!r}: a number 1 to {MAX_LANDMARKS}")
    return lm
