"""Paint mode of `scopecount annotate`: masks/NAME.png and classes.csv of an areas folder.

The page paints labels (one grey value per class, 0 unlabelled) and sends them run-length
encoded; nothing it sends is trusted. A save is decoded here, checked against the image's size
and the classes on disk now, and written under the folder's lock: classes.csv first (a class
nobody painted yet is harmless, a mask value nobody named would break the folder), then the
mask, each with write_atomic. Each image has a revision that moves when its mask changes on
disk (another tab, another tool), and a save made from an older view is refused with 409.

A folder of 0/255 masks without classes.csv (the fully labelled convention) stays one: its 0 is
background, not unlabelled, so writing a classes.csv there would silently unlabel every
background pixel of every mask. Its page paints 255 and background only and adds no class.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import cv2
import numpy as np

from device.core.csvsafe import csv_line
from device.core.durable import fsync_dir
from device.core.errors import BadInput
from device.core.imageio import write_atomic
from device.core.text import printable
from export import pointsfile
from export.annotate_guard import Refused
from export.annotate_maskfiles import (
    MAX_VALUE,
    MaskSave,
    decode_mask,
    encode_rle,
    read_classes,
    read_no_follow,
)

# The areas folder's own reader of areas.csv: it owns the format.
from export.areas_folder import BACKGROUND, CLASSES_HEADER, DEFAULT_CLASS, _single_class_name

Predictor = Callable[[Path], np.ndarray]  # image path -> the model's class per pixel (0 bg)


class MaskStore:
    mode = "paint"

    def __init__(
        self,
        root: Path,
        sizes: dict[str, tuple[int, int]],
        classes: list[str] | None = None,
        predict: Predictor | None = None,
        model_classes: list[str] | None = None,
    ) -> None:
        self.root = root
        self.images_dir = (root / "images").resolve()
        self.masks = root / "masks"
        self.sizes = sizes
        self.stems: dict[str, str] = {}
        for name in sizes:
            stem = Path(name).stem
            if stem in self.stems or "\\" in stem or stem in ("", ".", ".."):
                raise BadInput(f"images/{printable(name)}: its mask name masks/{stem}.png is taken")
            self.stems[stem] = name
        self.lock = threading.Lock()
        if not self._masks_ok():
            raise BadInput(
                f"{root / 'masks'}: not a plain folder (a link?); paint mode writes there"
            )
        saved = read_classes(root / "classes.csv")
        files = self._mask_files()
        # 0/255 masks without classes.csv: see the module's docstring
        self.binary = not saved and not os.path.lexists(root / "classes.csv") and bool(files)
        self.region = _single_class_name(root / "areas.csv") if self.binary else ""
        self.pending: dict[int, str] = {}  # classes offered that classes.csv does not hold yet
        if self.binary:
            if classes:
                raise BadInput(f"{root}: masks of 0/255 without classes.csv: --classes needs one")
            missing = model_classes and self.region.casefold() not in _folded(model_classes)
            if missing:
                raise BadInput(f"--model: its classes do not name this folder's {self.region!r}")
        else:
            if not any(n.casefold() == BACKGROUND for n in saved.values()):
                self._offer(BACKGROUND, saved, prefer=1)
            users = [n for n in saved.values() if n.casefold() != BACKGROUND]
            # classes.csv, else --classes, else the model's, else one class `region`
            for name in classes or ([] if users or model_classes else [DEFAULT_CLASS]):
                self._offer(name, saved)
            for name in model_classes or []:
                self._offer(name, saved)
        self.predict = predict
        self.model_classes = list(model_classes or [])
        self.sigs = {n: self._sig(files.get(Path(n).stem)) for n in sizes}
        self.revision = dict.fromkeys(sizes, 0)
        self.predicted = {n for n in sizes if predict is not None and self.sigs[n] is None}
        self.cache: dict[str, np.ndarray] = {}  # predictions made so far

    # -- classes ---------------------------------------------------------------------------

    def _offer(self, name: str, saved: dict[int, str], prefer: int | None = None) -> None:
        known = _folded([*saved.values(), *self.pending.values()])
        if name.casefold() in known:
            return
        free = [v for v in range(1, MAX_VALUE + 1) if v not in saved and v not in self.pending]
        if not free:
            raise BadInput(f"{self.root}: no mask value left for class {printable(name)!r}")
        self.pending[prefer if prefer in free else free[0]] = name

    def _table(self) -> dict[int, str]:
        """classes.csv as it is now, with the offered classes moved out of its way."""
        if self.binary:
            if os.path.lexists(self.root / "classes.csv"):
                raise Refused(409, "classes.csv appeared meanwhile: restart annotate")
            return {MAX_VALUE: self.region}
        try:
            saved = read_classes(self.root / "classes.csv")
        except BadInput as e:
            raise Refused(409, str(e)) from None
        offered, self.pending = self.pending, {}
        for v, name in sorted(offered.items()):
            self._offer(name, saved, prefer=v)
        return saved

    def _listing(self, saved: dict[int, str]) -> list[dict]:
        both = {
            **{v: (n, False) for v, n in self.pending.items()},
            **{v: (n, True) for v, n in saved.items()},
        }
        return [{"value": v, "name": n, "saved": s} for v, (n, s) in sorted(both.items())]

    # -- masks on disk ---------------------------------------------------------------------

    def _masks_ok(self) -> bool:
        """masks/ is absent or a real folder here (a link would take writes elsewhere)."""
        try:
            st = os.lstat(self.masks)
        except FileNotFoundError:
            return True
        return stat.S_ISDIR(st.st_mode)

    def _mask_files(self) -> dict[str, str]:
        """stem -> file name of each mask (Mask.PNG too: a second a.png would be refused)."""
        if not self._masks_ok():
            raise Refused(409, "masks/ is not a plain folder (a link?): nothing is read or written")
        try:
            names = os.listdir(self.masks)
        except FileNotFoundError:
            return {}
        return {Path(n).stem: n for n in sorted(names) if Path(n).suffix.lower() == ".png"}

    def _sig(self, file: str | None) -> tuple[int, int, int, int] | None:
        if file is None:
            return None
        try:
            st = os.lstat(self.masks / file)
        except FileNotFoundError:
            return None
        return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns)

    def _sync(self, name: str, files: dict[str, str]) -> None:
        """A mask changed on disk moves its image's revision (and ends its prediction)."""
        sig = self._sig(files.get(Path(name).stem))
        if sig != self.sigs[name]:
            self.sigs[name] = sig
            self.revision[name] += 1
            if sig is not None:
                self.predicted.discard(name)
                self.cache.pop(name, None)

    def state(self) -> dict:
        with self.lock:
            saved = self._table()
            files = self._mask_files()
            for n in self.sizes:
                self._sync(n, files)
            return {
                "mode": "paint",
                "folder": str(self.root),
                "zero": "background" if self.binary else "unlabelled",
                "can_add": not self.binary,
                "classes": self._listing(saved),
                "images": [
                    {
                        "name": n,
                        "width": w,
                        "height": h,
                        "done": self.sigs[n] is not None,
                        "predicted": n in self.predicted,
                        "revision": self.revision[n],
                    }
                    for n, (w, h) in self.sizes.items()
                ],
            }

    def mask(self, name: str) -> dict | None:
        """GET /api/mask/NAME: the labels as runs; None for a name that is not an image here."""
        if name not in self.sizes or "/" in name or name.startswith("."):
            return None
        w, h = self.sizes[name]
        with self.lock:
            files = self._mask_files()
            self._sync(name, files)
            rev, file = self.revision[name], files.get(Path(name).stem)
            labels = self.cache.get(name) if name in self.predicted else None
            if file is not None:
                data = read_no_follow(self.masks, file)
                if data is None:
                    raise Refused(409, f"masks/{file} is not a regular file (a link?)")
                labels = decode_mask(data, f"masks/{file}", w, h)
        predicted = file is None and name in self.predicted
        if labels is None and predicted:
            labels = self._prediction(name)  # outside the lock: a model takes a while
        if labels is None:
            labels = np.zeros((h, w), np.uint8)
        return {
            "image": name,
            "width": w,
            "height": h,
            "revision": rev,
            "predicted": predicted,
            "rle": encode_rle(labels),
        }

    def _prediction(self, name: str) -> np.ndarray:
        w, h = self.sizes[name]
        cmap = np.asarray(self.predict(self.root / "images" / name))  # type: ignore[misc]
        if cmap.shape != (h, w):
            cmap = cv2.resize(cmap.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        with self.lock:  # model class k (0 background) -> this folder's value, by name
            table = {**self.pending, **self._table()}
            by_name = {n.casefold(): v for v, n in table.items()}
            lut = np.zeros(256, np.uint8)
            lut[0] = by_name.get(BACKGROUND, 0)
            for k, c in enumerate(self.model_classes[:254], start=1):
                lut[k] = by_name.get(c.casefold(), 0)
            labels = lut[np.clip(cmap, 0, 255).astype(np.uint8)]
            if name in self.predicted:
                self.cache[name] = labels
            return labels

    def save(self, req: MaskSave) -> dict:
        name = req.image
        if name not in self.sizes:
            raise BadInput(f"{name}: not an image of this folder")
        w, h = self.sizes[name]
        if req.labels.shape != (h, w):
            hh, ww = req.labels.shape
            raise BadInput(f"{name}: mask is {ww}x{hh}, the image is {w}x{h}")
        used = [int(v) for v in np.unique(req.labels) if v]
        with self.lock, pointsfile.locked(self.root):
            files = self._mask_files()
            self._sync(name, files)
            saved = self._table()
            if req.revision != self.revision[name]:
                return self._conflict(name, saved, "the mask changed meanwhile")
            adds: dict[int, str] = {}
            for v in used:
                mine = req.classes.get(v)
                if v in saved:
                    if mine is not None and mine.casefold() != saved[v].casefold():
                        why = f"value {v} is now {saved[v]!r} in classes.csv, not {mine!r}"
                        return self._conflict(name, saved, why)
                elif mine is None or self.binary:
                    raise BadInput(f"{name}: value {v} is not a class of classes.csv")
                elif mine.casefold() in _folded(saved.values()):
                    return self._conflict(name, saved, f"{mine!r} has another value now")
                else:
                    adds[v] = mine
            if adds:
                table = dict(sorted({**saved, **adds}.items()))
                text = csv_line(CLASSES_HEADER) + "".join(
                    csv_line([v, n]) for v, n in table.items()
                )
                write_atomic(self.root / "classes.csv", text.encode("utf-8"))
                saved = table
                self.pending = {v: n for v, n in self.pending.items() if v not in saved}
                self._table()  # offered classes move off the values just taken
            if not os.path.lexists(self.masks):
                self.masks.mkdir()
                fsync_dir(self.root)
            ok, png = cv2.imencode(".png", np.ascontiguousarray(req.labels))
            if not ok:
                raise OSError(f"{name}: the mask could not be encoded as png")
            file = files.get(Path(name).stem, f"{Path(name).stem}.png")
            write_atomic(self.masks / file, png.tobytes())
            self.sigs[name] = self._sig(file)
            self.revision[name] += 1
            self.predicted.discard(name)
            self.cache.pop(name, None)
            return {"ok": True, "revision": self.revision[name], "classes": self._listing(saved)}

    def _conflict(self, name: str, saved: dict[int, str], why: str) -> dict:
        return {
            "ok": False,
            "conflict": True,
            "error": f"{name}: {why}; reloaded",
            "revision": self.revision[name],
            "classes": self._listing(saved),
        }

    def image_bytes(self, name: str) -> bytes | None:
        """An image of the folder, only as a regular file inside images/ as it was at start."""
        if name not in self.sizes or (self.root / "images").resolve() != self.images_dir:
            return None
        return read_no_follow(self.images_dir, name)


def _folded(names: Iterable[str]) -> set[str]:
    return {n.casefold() for n in names}
