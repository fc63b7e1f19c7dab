"""The day folder's files of landmarks records:

landmarks.csv        image,landmark,x,y: every kept image's landmarks (a landmark not in the
                     frame has no row), the layout of a landmarks training folder, so that a
                     day folder can be corrected in `annotate` and taught again. Appended
                     with each record, never regenerated (a correction made in it is kept);
                     a voided record's rows stay, and the training reader leaves its image
                     out (it reads voids.jsonl)
centroid_sizes.csv   id,time,sample,model,centroid_size_px,centroid_size_um,mirrored,
                     procrustes_distance,flags,voided: one row per landmarks record, for
                     MorphoJ, geomorph or a spreadsheet; regenerated from records.jsonl on a
                     void and by the start-up repair
"""

from __future__ import annotations

from device.core.csvsafe import csv_line, fixed
from device.records.record import Record

LANDMARKS_HEADER = ["image", "landmark", "x", "y"]
SIZES_HEADER = [
    "id",
    "time",
    "sample",
    "model",
    "centroid_size_px",
    "centroid_size_um",
    "mirrored",
    "procrustes_distance",
    "flags",
    "voided",
]


def landmark_rows(rec: Record, voided: bool) -> str:
    """The landmarks.csv rows of a record ('' for one without landmarks or imageless)."""
    pts = rec.extra.get("landmarks")
    if voided or not rec.image or not isinstance(pts, list):
        return ""
    rows = []
    for k, p in enumerate(pts, start=1):
        xy = [fixed(v, 2) for v in p] if isinstance(p, list) and len(p) == 2 else []
        if len(xy) == 2 and all(xy) and not any(v.startswith("-") for v in xy):
            # numbers, not text: a spreadsheet guard would quote a text cell starting with -
            rows.append(csv_line([rec.image_name, k, float(xy[0]), float(xy[1])]))
    return "".join(rows)


def size_row(rec: Record, voided: bool) -> str:
    if rec.extra.get("task") != "landmarks":
        return ""
    mirrored = rec.extra.get("mirrored")
    return csv_line(
        [
            rec.id,
            rec.time,
            rec.sample,
            rec.model,
            fixed(rec.extra.get("centroid_size"), 2),
            fixed(rec.extra.get("centroid_size_um"), 2),
            "" if mirrored is None else ("yes" if mirrored else "no"),
            fixed(rec.extra.get("procrustes_distance"), 4),
            " ".join(rec.flags),
            "yes" if voided else "",
        ]
    )


def landmarks_text(records: list[Record], voided: set[str]) -> str:
    return csv_line(LANDMARKS_HEADER) + "".join(landmark_rows(r, r.id in voided) for r in records)


def sizes_text(records: list[Record], voided: set[str]) -> str:
    return csv_line(SIZES_HEADER) + "".join(size_row(r, r.id in voided) for r in records)
