"""What an areas record adds to its day folder, so that the day folder is an areas training
folder to correct and train again:

  masks/<image stem>.png   the class of every pixel, at the image's size: grey value 1 for
                           background, k+1 for the model's k-th class (0 is left for
                           "unlabelled", which a person correcting a mask may paint)
  classes.csv              value,class: the names of those grey values (written with the day's
                           first mask)
  areas.csv                id,time,sample,model,class,fraction,pixels,mm2,flags,voided: one row
                           per record and class, derived from records.jsonl like counts.csv

A mask's name comes from its record's image name, never from anything else in the record.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from device.core.csvsafe import csv_line
from device.records.record import Record

MASKS = "masks"
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
                f,
                pixels.get(c, ""),
                mm2.get(c, ""),
                flags,
                "yes" if voided else "",
            ]
        )
        for c, f in areas.items()
    )


def areas_text(records: list[Record], voided: set[str]) -> str:
    return csv_line(AREAS_HEADER) + "".join(area_rows(r, r.id in voided) for r in records)
