"""What an areas record adds to its day folder, so that the day folder is an areas training
folder to correct and train again:

  masks/<image stem>.png   the class of every pixel, at the image's size: grey value 1 for
                           background, k+1 for the model's k-th class (0 is left for
                           "unlabelled", which a person correcting a mask may paint)
  classes.csv              value,class: the names of the grey values of every mask of the day:
                           made with the day's first mask; a later model's class it lacks is
                           appended, and that model's masks are written in its values (so the
                           folder stays one consistent training folder whatever models ran)
  areas.csv                id,time,sample,model,class,fraction,pixels,mm2,flags,voided: one row
                           per record and class, derived from records.jsonl like counts.csv

A mask's name comes from its record's image name, never from anything else in the record.
"""

from __future__ import annotations

import errno
import re
from pathlib import Path

import numpy as np

from device.core.csvsafe import csv_line, fixed
from device.records.record import Record

MASKS = "masks"
_VALUE = re.compile(r"[0-9]{1,3}")
AREAS_HEADER = ["id", "time", "sample", "model", "class", "fraction", "pixels", "mm2", "flags"]
AREAS_HEADER = [*AREAS_HEADER, "voided"]
CLASSES_HEADER = ["value", "class"]
BACKGROUND = "background"


def mask_name(rec: Record) -> str | None:
    """masks/<name> for a record that has a mask, else None."""
    if not isinstance(rec.extra.get("mask"), str):
        return None
    stem = Path(rec.image_name).stem
    if not stem or stem.startswith("."):
        return None
    return f"{stem}.png"


def record_areas(rec: Record) -> dict[str, float]:
    """An areas record's shares (class -> 0-1), only well-typed ones: a line may hold anything."""
    areas = rec.extra.get("areas")
    if not isinstance(areas, dict):
        return {}
    return {
        str(c): float(v)
        for c, v in areas.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and 0.0 <= v <= 1.0
    }


def mask_png(class_map: np.ndarray) -> bytes:
    """The PNG of a class map (0 background, k class k) with the grey values described above."""
    import cv2

    if class_map.ndim != 2 or int(class_map.max(initial=0)) >= 254:
        raise ValueError(f"a class map must be 2-D with fewer than 254 classes: {class_map.shape}")
    ok, buf = cv2.imencode(".png", (class_map.astype(np.uint8) + 1))
    if not ok:
        raise ValueError("could not encode the class map as PNG")
    return buf.tobytes()


def classes_text(names: list[str]) -> str:
    """classes.csv for a mask whose grey value k+1 is names[k] (names[0]: background)."""
    return csv_line(CLASSES_HEADER) + "".join(csv_line([k + 1, n]) for k, n in enumerate(names))


def record_values(rec: Record) -> dict[int, str]:
    """What the grey values of a record's mask, as the recorder encodes it, name."""
    names = rec.extra.get("mask_classes")
    if not isinstance(names, list):
        return {}
    return {k + 1: str(n) for k, n in enumerate(names)}


def read_values(path: Path) -> dict[int, str]:
    """classes.csv as {value: class} (rows that are not a value 1-255 and a name are skipped:
    the bench writes this file, a person may have edited it)."""
    import csv

    from device.core.csvsafe import restore
    from device.core.untrusted_file import read_regular

    out: dict[int, str] = {}
    try:
        text = read_regular(path, 64 * 1024).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return out
    except (OSError, ValueError) as e:  # a link, a FIFO, a huge file: not ours to extend
        raise OSError(errno.EINVAL, f"{path}: not a classes.csv this bench can use ({e})") from e
    for row in csv.reader(text.splitlines()):
        if len(row) == 2 and _VALUE.fullmatch(row[0]) and 1 <= int(row[0]) <= 255 and row[1]:
            out.setdefault(int(row[0]), restore(row[1]))
    return out


def fit_mask(day: Path, mask: bytes, values: dict[int, str]) -> bytes:
    """The mask (grey value -> class as `values` say) in the day folder's classes.csv values,
    classes.csv first extended with any class it lacks; returns the bytes to write.

    OSError where the folder's classes.csv cannot take them (a stick's file may hold anything):
    the recorder then keeps the record in the spool, as for a stick that refuses a write."""
    import cv2

    from device.core.imageio import write_atomic

    path = day / "classes.csv"
    have = read_values(path)
    by_name: dict[str, int] = {}
    for v, n in sorted(have.items()):  # names as the areas reader compares them: any case
        by_name.setdefault(n.casefold(), v)
    for n in values.values():
        if n.casefold() not in by_name:
            free = next((v for v in range(1, 256) if v not in have), None)
            if free is None:
                raise OSError(errno.ENOSPC, f"{path}: no grey value left for class {n!r}")
            have[free] = n
            by_name[n.casefold()] = free
    if have != read_values(path):  # written before the mask that uses it
        write_atomic(path, classes_text_of(have).encode("utf-8"))
    if all(by_name[n.casefold()] == v for v, n in values.items()):
        return mask
    lut = np.zeros(256, np.uint8)
    for v, n in values.items():
        lut[v] = by_name[n.casefold()]
    grey = cv2.imdecode(np.frombuffer(mask, np.uint8), cv2.IMREAD_UNCHANGED)
    ok, buf = (
        (False, None) if grey is None or grey.dtype != np.uint8 else cv2.imencode(".png", lut[grey])
    )
    if not ok or buf is None:
        raise OSError(errno.EINVAL, f"{day}: a mask that cannot be decoded or encoded")
    return buf.tobytes()


def classes_text_of(values: dict[int, str]) -> str:
    return csv_line(CLASSES_HEADER) + "".join(csv_line([v, n]) for v, n in sorted(values.items()))


def area_rows(rec: Record, voided: bool) -> str:
    """The areas.csv rows of a record ('' for a record that measured no areas)."""
    areas = rec.extra.get("areas")
    if not isinstance(areas, dict):
        return ""
    pixels = rec.extra.get("pixels") if isinstance(rec.extra.get("pixels"), dict) else {}
    mm2 = rec.extra.get("mm2") if isinstance(rec.extra.get("mm2"), dict) else {}
    flags = " ".join(rec.flags)
    return "".join(
        csv_line(
            [
                rec.id,
                rec.time,
                rec.sample,
                rec.model,
                c,
                fixed(f, 4),
                pixels.get(c, ""),
                fixed(mm2.get(c), 6),
                flags,
                "yes" if voided else "",
            ]
        )
        for c, f in areas.items()
    )


def areas_text(records: list[Record], voided: set[str]) -> str:
    return csv_line(AREAS_HEADER) + "".join(area_rows(r, r.id in voided) for r in records)
