"""What paint mode of `scopecount annotate` is sent and reads: runs of labels, save requests,
mask pngs and classes.csv. Pure functions; Refused carries the HTTP status and a reason.

A mask travels as runs, [value, run, value, run, ...] over the pixels in row order: a painted or
predicted mask is a few runs a row, and the page needs no png encoder. Decoding checks every
number and that the runs cover the image exactly, so a save can never write a mask of another
size or a value the page did not name.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from device.core.csvsafe import restore
from device.core.errors import BadInput
from device.core.names import check_class
from device.core.text import printable
from export.annotate_guard import MAX_REVISION, Refused, check_name

# The areas folder's own CSV reader: it owns the format.
from export.areas_folder import CLASSES_HEADER
from export.csv_rows import csv_rows

MAX_MASK_BODY = 16 * 2**20  # a hand-painted or predicted mask is a few runs a row
MAX_VALUE = 255  # masks are written 8-bit


@dataclass(frozen=True)
class MaskSave:
    image: str
    revision: int
    labels: np.ndarray  # HxW uint8, as the page painted it
    classes: dict[int, str]  # the page's classes: value -> name


def check_image(value: object) -> str:
    """An image's file name as the page names it: never a path."""
    if not isinstance(value, str) or not 0 < len(value) <= 255:
        raise Refused(400, "image must be an image file name")
    if "/" in value or "\\" in value or value.startswith(".") or not value.isprintable():
        raise Refused(400, f"image {value[:80]!r} is not a file name of images/")
    return value


def encode_rle(labels: np.ndarray) -> list[int]:
    """[value, run, value, run, ...] over the pixels in row order."""
    flat = labels.ravel()
    if flat.size == 0:
        return []
    starts = np.r_[0, np.flatnonzero(np.diff(flat)) + 1]
    runs = np.diff(np.r_[starts, flat.size])
    return np.column_stack((flat[starts], runs)).ravel().tolist()


def decode_rle(rle: object, width: int, height: int) -> np.ndarray:
    """The runs as HxW labels. width and height must be a real image's size (the caller's,
    never the request's): the pixels are allocated only once the runs are known to cover
    exactly width*height of them."""
    if not isinstance(rle, list) or len(rle) % 2 or not rle:
        raise Refused(400, "rle must be a non-empty list of [value, run, ...] pairs")
    pixels = width * height
    if len(rle) > 2 * pixels or any(type(v) is not int for v in rle):
        raise Refused(400, "rle must hold whole numbers, at most one run per pixel")
    try:
        arr = np.array(rle, np.int64)
    except OverflowError:
        raise Refused(400, "rle holds a number out of range") from None
    values, runs = arr[0::2], arr[1::2]
    if values.min() < 0 or values.max() > MAX_VALUE:
        raise Refused(400, f"mask values must be 0-{MAX_VALUE}")
    # each run is at most `pixels` and there are at most `pixels` of them: the sum cannot
    # overflow int64, and it is checked before np.repeat allocates anything
    if runs.min() < 1 or runs.max() > pixels or int(runs.sum()) != pixels:
        raise Refused(400, f"the runs do not cover {width}x{height} pixels exactly")
    return np.repeat(values.astype(np.uint8), runs).reshape(height, width)


def _int(body: dict, key: str, low: int, high: int) -> int:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise Refused(400, f"{key} must be a whole number in [{low}, {high}]")
    return v


def parse_mask_save(body: object, sizes: Mapping[str, tuple[int, int]]) -> MaskSave:
    """The body of POST /api/mask, every field checked; Refused(400) names the first fault.
    sizes: image name -> (width, height) as the folder's images are; the request's size must be
    its image's before its runs are decoded (a few bytes could otherwise ask for 4 GiB)."""
    if not isinstance(body, dict):
        raise Refused(400, "body must be a JSON object")
    unknown = set(body) - {"image", "revision", "width", "height", "rle", "classes"}
    if unknown:
        raise Refused(400, f"unknown field {sorted(unknown)[0]!r}")
    image = check_image(body.get("image"))
    rev = _int(body, "revision", 0, MAX_REVISION)
    width, height = _int(body, "width", 1, 2**16), _int(body, "height", 1, 2**16)
    if image not in sizes:
        raise Refused(400, f"{image}: not an image of this folder")
    if (width, height) != tuple(sizes[image]):
        w, h = sizes[image]
        raise Refused(400, f"{image}: mask is {width}x{height}, the image is {w}x{h}")
    raw = body.get("classes", [])
    if not isinstance(raw, list) or len(raw) > MAX_VALUE:
        raise Refused(400, f"classes must be a list of at most {MAX_VALUE} [value, name]")
    classes: dict[int, str] = {}
    for i, c in enumerate(raw):
        if not (isinstance(c, list) and len(c) == 2):
            raise Refused(400, f"classes[{i}] must be [value, name]")
        v = c[0]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_VALUE:
            raise Refused(400, f"classes[{i}] value must be 1-{MAX_VALUE} (0 is unlabelled)")
        name = check_name(c[1], f"classes[{i}] name")
        if v in classes or name.casefold() in {n.casefold() for n in classes.values()}:
            raise Refused(400, f"classes[{i}] ({v}, {name!r}) is listed twice")
        classes[v] = name
    return MaskSave(image, rev, decode_rle(body.get("rle"), width, height), classes)


def read_classes(path: Path) -> dict[int, str]:
    """classes.csv as value -> name ({} when there is none); BadInput names the fault."""
    if not os.path.lexists(path):
        return {}
    named: dict[int, str] = {}
    for n, row in csv_rows(path, CLASSES_HEADER):
        where = f"{printable(str(path))}: row {n}"
        if len(row) != 2 or not row[0].isascii() or not row[0].isdigit():
            raise BadInput(f"{where}: expected value,class with a whole-number value")
        value, name = int(row[0]), check_class(restore(row[1]), where)
        if not 1 <= value <= MAX_VALUE:
            raise BadInput(f"{where}: value {value}: paint mode writes 8-bit masks (1-255)")
        if value in named or name.casefold() in {c.casefold() for c in named.values()}:
            raise BadInput(f"{where}: value {value} or class {printable(name)!r} listed twice")
        named[value] = name
    return named


def read_no_follow(directory: Path, name: str) -> bytes | None:
    """A regular file directly inside `directory`: never through a link, never a FIFO."""
    if "/" in name or name.startswith("."):
        return None
    try:
        fd = os.open(directory / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def decode_mask(data: bytes, where: str, width: int, height: int) -> np.ndarray:
    """A mask file's bytes as HxW uint8 labels; Refused(409) when paint mode cannot show it."""
    try:
        m = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    except cv2.error:  # OpenCV raises past OPENCV_IO_MAX_IMAGE_PIXELS
        m = None
    if m is None or m.dtype not in (np.uint8, np.uint16):
        raise Refused(409, f"{where}: not a readable 8- or 16-bit grey png")
    if m.ndim == 3:  # paint programs save grey as RGB(A): the areas reader takes those too
        if m.shape[2] not in (3, 4) or (m[..., 1:3] != m[..., :1]).any():
            raise Refused(409, f"{where}: colour mask; a mask is grey, one value per class")
        m = m[..., 0]
    if m.shape != (height, width):
        raise Refused(409, f"{where}: mask is {m.shape[1]}x{m.shape[0]}, image {width}x{height}")
    if m.max(initial=0) > MAX_VALUE:
        raise Refused(409, f"{where}: values over 255; paint mode writes 8-bit masks")
    return m.astype(np.uint8)
