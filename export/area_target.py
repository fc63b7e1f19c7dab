"""The areas folder an importer writes into: its images, its classes.csv as it will be, and
the one write of everything at the end (export/area_importers.py reads the other tools' files).

Values already in the folder's classes.csv keep their meaning; a new class takes the value it
had in its source when that is free and 8-bit, else the lowest free value, and classes.csv says
which. Class names are compared casefolded, as areas_folder.py does.

Nothing is written until everything is read and checked; then, under the folder's lock (the
one the annotator takes), classes.csv (first, so that the folder is readable at every moment)
and the masks are replaced atomically, and a failure on the way puts back what was written.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from device.core.errors import BadInput
from device.core.imageio import write_atomic
from device.core.text import printable, printable_path
from export import pointsfile
from export.areas_folder import classes_csv, image_files, read_class_names

MAX_VALUE = 255  # masks written here are 8-bit


def check_new_class(name: str, where: str) -> str:
    """A class name an importer may add to classes.csv. A leading quote is refused: a CSV cell
    keeps one only before a formula character, so '=x would be read back as =x, another class
    (and two such classes would make the folder unreadable)."""
    if name.startswith("'"):
        raise BadInput(
            f"{where}: class name {printable(name)!r} starts with a quote ('), which "
            "classes.csv cannot keep"
        )
    return name


@dataclass
class AreaImport:
    masks: int
    classes: dict[int, str]  # the folder's classes.csv after the import
    notes: list[str] = field(default_factory=list)  # lines for the user (stderr)


class ClassTable:
    """The folder's classes.csv as it will be: value -> name, names compared casefolded (as
    areas_folder.py does: Gland and gland would be one class nobody can tell apart)."""

    def __init__(self, named: dict[int, str], where: str) -> None:
        self.where = where  # the folder's classes.csv, for messages
        self.named = dict(named)
        self.by_key = {n.casefold(): v for v, n in named.items()}

    def assign(self, wanted: list[tuple[str, int | None]]) -> list[int]:
        """A mask value for each (name, the value it would like): its value in the folder if
        the class is there, else its wish if free and 8-bit, else the lowest free value."""
        out: list[int | None] = [self.by_key.get(n.casefold()) for n, _ in wanted]
        for stage in ("wish", "free"):
            for i, (name, wish) in enumerate(wanted):
                if out[i] is not None:
                    continue
                if name.casefold() in self.by_key:  # a second spelling of a class just added
                    out[i] = self.by_key[name.casefold()]
                elif stage == "wish":
                    if wish is not None and 1 <= wish <= MAX_VALUE and wish not in self.named:
                        out[i] = self._add(name, wish)
                else:
                    out[i] = self._add(name, self._free(name))
        given = [v or 0 for v in out]  # every one has a value by now
        for (name, _), value in zip(wanted, given, strict=True):
            if value > MAX_VALUE:
                raise BadInput(
                    f"{self.where}: class {printable(name)!r} has value {value}; masks written "
                    f"here are 8-bit (values 1-{MAX_VALUE})"
                )
        return given

    def _add(self, name: str, value: int) -> int:
        check_new_class(name, self.where)
        self.named[value] = name
        self.by_key[name.casefold()] = value
        return value

    def _free(self, name: str) -> int:
        for v in range(1, MAX_VALUE + 1):
            if v not in self.named:
                return v
        raise BadInput(
            f"{self.where}: no free mask value for class {printable(name)!r} (255 at most)"
        )


@dataclass
class Target:
    """The areas folder written into."""

    root: Path
    images: dict[str, Path]  # stem -> images/STEM.*
    named: dict[int, str]  # its classes.csv now ({} without one)

    def table(self) -> ClassTable:
        return ClassTable(self.named, printable_path(self.root / "classes.csv"))

    def mask(self, stem: str) -> Path:
        return self.root / "masks" / f"{stem}.png"

    def check_writable(self, stems: list[str], replace: bool) -> None:
        """Refuse before anything is read further: masks/ that is not a plain folder (a link
        would take the writes elsewhere), a mask there already (without replace; a link
        counts, dangling or not), or 0/255 masks that a new classes.csv would give another
        meaning."""
        check_masks_dir(self.root / "masks")
        for stem in stems:
            if not replace and os.path.lexists(self.mask(stem)):
                raise BadInput(
                    f"{printable_path(self.mask(stem))}: exists (--replace to overwrite it)"
                )
        if not self.named and (self.root / "masks").is_dir():
            # Without classes.csv a mask means 0 = background, 255 = the class; a classes.csv
            # would turn its 0 into "unlabelled" and leave its 255 unnamed.
            kept = sorted(p for p in (self.root / "masks").glob("*.png") if p.stem not in stems)
            if kept:
                raise BadInput(
                    f"{printable_path(kept[0])}: a 0/255 mask and no classes.csv; importing "
                    "would change what its 0 means (add a classes.csv first)"
                )


def check_masks_dir(mask_dir: Path) -> None:
    """masks/ is absent or a real folder: never a link (the masks would be written at its
    target), a file or anything else."""
    try:
        mode = os.lstat(mask_dir).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        kind = "a link" if stat.S_ISLNK(mode) else "not a folder"
        raise BadInput(
            f"{printable_path(mask_dir)}: {kind}; masks are written only into a plain folder"
        )


def open_target(folder: str | Path) -> Target:
    root = Path(folder)
    if not root.is_dir():
        raise BadInput(f"{printable_path(root)}: not a folder (an areas folder holds images/)")
    images = image_files(root)
    csv_path = root / "classes.csv"
    named = read_class_names(csv_path) if csv_path.exists() else {}
    return Target(root, images, named)


def png(mask: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", mask)
    if not ok:
        raise OSError("could not encode a mask as PNG")
    return buf.tobytes()


def commit(target: Target, masks: dict[str, bytes], named: dict[int, str], replace: bool) -> None:
    """Write classes.csv (if it changes) and the masks (PNG bytes by stem) under the folder's
    lock, which the annotator's writes take too; put everything back if one write fails."""
    blobs: dict[Path, bytes] = {}
    if named != target.named:
        blobs[target.root / "classes.csv"] = classes_csv(named)
    blobs.update({target.mask(stem): data for stem, data in masks.items()})
    with pointsfile.locked(target.root):
        # What was checked before the files were read must still hold: a class another
        # writer added meanwhile would be lost, a mask painted meanwhile overwritten.
        csv_path = target.root / "classes.csv"
        if (read_class_names(csv_path) if csv_path.exists() else {}) != target.named:
            raise BadInput(f"{printable_path(csv_path)}: changed during the import; run it again")
        target.check_writable(list(masks), replace)
        _write_all(target.root / "masks", blobs)


def _write_all(mask_dir: Path, blobs: dict[Path, bytes]) -> None:
    made_dir = not os.path.lexists(mask_dir)
    if made_dir:
        mask_dir.mkdir()
    check_masks_dir(mask_dir)
    before: dict[Path, bytes | str | None] = {}
    try:
        for path, data in blobs.items():
            before[path] = _as_it_is(path)
            # write_atomic renames a new file over `path`: a link there is replaced, never
            # written through
            write_atomic(path, data)
    except BaseException:
        for path, old in before.items():
            _put_back(path, old)
        if made_dir and not any(mask_dir.iterdir()):
            mask_dir.rmdir()
        raise


def _as_it_is(path: Path) -> bytes | str | None:
    """What is at `path`, never through a link: a file's bytes, a link's target (str), None
    for nothing or for what cannot be put back (a FIFO; a folder write_atomic cannot replace)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return os.readlink(path)
    if not stat.S_ISREG(mode):
        return None
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
        return f.read()


def _put_back(path: Path, old: bytes | str | None) -> None:
    if isinstance(old, bytes):
        write_atomic(path, old)
    elif isinstance(old, str):  # the link itself, as it was
        tmp = path.with_name(f".{path.name}.link{secrets.token_hex(4)}")
        os.symlink(old, tmp)
        os.replace(tmp, path)
    elif os.path.islink(path) or os.path.isfile(path):
        path.unlink()  # what was written where there was nothing (or a FIFO)
