"""Training folders: images/ plus points.csv (image,x,y,label), validated with clear errors.

Which images are annotated: a folder someone is annotating with `scopecount annotate` (it keeps
STATE_FILE beside points.csv) counts an image once it has rows, is marked done there, or is
listed in points.csv with empty x, y and label (`name,,,`: checked, holds nothing). Untouched
images are left out, so a half-annotated folder never teaches "nothing here". A folder made by
other tools (points.csv, no annotate state) keeps the plain contract: an image without rows holds
no object. Without points.csv nothing is annotated.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.core.csvsafe import restore
from device.core.errors import BadInput
from device.core.imageio import IMAGE_SUFFIXES, read_rgb
from device.core.text import printable
from device.records.dayfolder import DayFolder

HEADER = ["image", "x", "y", "label"]
STATE_FILE = ".scopecount-annotate.json"  # annotate's own state: {"done": [...], "classes": [...]}


@dataclass
class Sample:
    name: str
    path: Path
    width: int
    height: int
    points: list[tuple[float, float, str]] = field(default_factory=list)
    listed: bool = False  # a `name,,,` row: checked by a person, holds nothing

    def image(self) -> np.ndarray:
        return read_rgb(self.path)

    def count(self, label: str | None = None) -> int:
        return sum(1 for p in self.points if label is None or p[2] == label)


@dataclass
class TrainingFolder:
    root: Path
    samples: list[Sample]
    classes: list[str]
    left_out: list[str] = field(default_factory=list)  # images not annotated yet

    @property
    def n_objects(self) -> int:
        return sum(len(s.points) for s in self.samples)

    def content_hash(self) -> str:
        """sha256 over every image's bytes and the points, so a model names the data it saw."""
        h = hashlib.sha256()
        for s in self.samples:
            h.update(s.name.encode())
            h.update(hashlib.sha256(s.path.read_bytes()).digest())
            for x, y, lab in s.points:
                h.update(f"{x:.2f},{y:.2f},{lab};".encode())
        return h.hexdigest()

    def subset(self, names: list[str]) -> TrainingFolder:
        keep = set(names)
        return TrainingFolder(self.root, [s for s in self.samples if s.name in keep], self.classes)

    def require_annotated(self, nothing: str) -> None:
        """Refuse, in one line, a folder where nothing is annotated (`nothing`: what cannot be
        done then), and tell the user about images left out as not annotated yet."""
        if not (self.root / "points.csv").is_file():
            raise BadInput(
                f"{self.root / 'points.csv'}: missing, so nothing is annotated yet "
                f"(`scopecount annotate {self.root}` makes it)"
            )
        if self.left_out:
            print(self.left_out_note(), file=sys.stderr)
        if not self.samples:
            raise BadInput(f"{self.root}: no annotated images yet, {nothing}")

    def left_out_note(self) -> str:
        """One line for the user when images were left out; empty when none were."""
        if not self.left_out:
            return ""
        n = len(self.left_out)
        some = ", ".join(self.left_out[:3]) + (", ..." if n > 3 else "")
        return (
            f"{self.root}: left out {n} image(s) not annotated yet ({some}): mark them done in "
            "`scopecount annotate`, or list an empty one in points.csv as `name,,,`"
        )


def _image_size(path: Path) -> tuple[int, int]:
    img = read_rgb(path)
    return img.shape[1], img.shape[0]


def done_images(root: Path) -> set[str] | None:
    """The images annotate has marked done, or None when annotate has never saved here."""
    try:
        st = json.loads((root / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise BadInput(f"{root / STATE_FILE}: unreadable annotate state ({e})") from None
    done = st.get("done", []) if isinstance(st, dict) else None
    if not isinstance(done, list):
        raise BadInput(f"{root / STATE_FILE}: 'done' is not a list of image names")
    return {str(n) for n in done}


def read_folder(
    root: str | Path, check_images: bool = True, all_images: bool = False
) -> TrainingFolder:
    """Read and validate a training folder. Raises BadInput naming the file, row and problem.
    Only annotated images are returned (the rest are named in `left_out`) unless all_images."""
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"{root}: not a folder (a training folder holds images/ and points.csv)")
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise BadInput(f"{root}: no images/ folder inside")
    files = sorted(p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BadInput(f"{img_dir}: empty folder (no png, jpg or tif images)")
    # A bench's day folder is a training folder; its voided captures are not training data.
    day = DayFolder(root)
    voided = day.voided_images() if day.records_path.exists() else set()
    files = [p for p in files if p.name not in voided]
    samples: dict[str, Sample] = {}
    for p in files:
        w, h = _image_size(p) if check_images else (0, 0)
        samples[p.name] = Sample(p.name, p, w, h)
    csv_path = root / "points.csv"
    if csv_path.exists():
        _read_points(csv_path, samples, voided)
    classes = sorted({lab for s in samples.values() for _, _, lab in s.points})
    if all_images:  # annotate shows every image (and must open a folder whose state is bad)
        return TrainingFolder(root, list(samples.values()), classes, [])
    done = done_images(root)
    if not csv_path.exists():
        annotated = {n for n in samples if done and n in done}
    elif done is None:
        annotated = set(samples)
    else:
        annotated = {n for n, s in samples.items() if s.points or s.listed or n in done}
    keep = [samples[n] for n in samples if n in annotated]
    left = [n for n in samples if n not in annotated]
    return TrainingFolder(root, keep, classes, left)


def _read_points(csv_path: Path, samples: dict[str, Sample], voided: set[str]) -> None:
    try:
        _read_rows(csv_path, samples, voided)
    except UnicodeDecodeError as e:
        raise BadInput(
            f"{csv_path}: not UTF-8 text (byte {e.start}); save it as UTF-8 CSV"
        ) from None


def _read_rows(csv_path: Path, samples: dict[str, Sample], voided: set[str]) -> None:
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        if header is None or [h.strip().lower() for h in header] != HEADER:
            raise BadInput(f"{csv_path}: wrong header {header!r}, expected 'image,x,y,label'")
        for lineno, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            where = f"{csv_path}: row {lineno}"
            if len(row) in (1, 4) and all(not c.strip() for c in row[1:]):
                name = row[0].strip()  # `name,,,`: listed as checked and empty
                if name in voided:
                    continue
                if name not in samples:
                    raise BadInput(f"{where}: image {name!r} is not in images/")
                samples[name].listed = True
                continue
            if len(row) != 4:
                raise BadInput(f"{where}: {len(row)} fields, expected 4 (image,x,y,label)")
            name, xs, ys, label = (c.strip() for c in row)
            label = restore(label)  # our CSV writers neutralise formula-like text
            if name in voided:
                continue
            if name not in samples:
                raise BadInput(f"{where}: image {name!r} is not in images/")
            try:
                x, y = float(xs), float(ys)
            except ValueError:
                raise BadInput(f"{where}: non-numeric coordinate x={xs!r} y={ys!r}") from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise BadInput(f"{where}: non-finite coordinate x={xs!r} y={ys!r}")
            if not label:
                raise BadInput(f"{where}: empty label")
            s = samples[name]
            if s.width and not (0 <= x <= s.width and 0 <= y <= s.height):
                raise BadInput(
                    f"{where}: point ({x:g}, {y:g}) is outside {printable(name)} "
                    f"({s.width}x{s.height})"
                )
            s.points.append((x, y, label))
