"""TPS in and out of landmarks folders (the format itself: export/tps.py).

`import tps`: a tpsDig file's specimens into FOLDER/landmarks.csv, each matched to its image in
FOLDER/images/ by the file name of its IMAGE= (a folder part, Windows or not, is dropped: the
name is looked up, never opened as a path). `export tps`: a landmarks folder (a day folder
too) as one TPS file for MorphoJ or geomorph plus a CSV of centroid sizes; SCALE= from the
bench's calibration where the records carry it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from device.core.csvsafe import csv_line, restore
from device.core.errors import BadInput
from device.core.imageio import IMAGE_SUFFIXES, read_rgb, write_atomic
from device.core.objectives import UM_PER_PX_RANGE
from device.core.text import amount, printable, printable_path
from device.core.writable import writable_dir
from device.measuring.meta_values import plain_number
from device.measuring.shapes import centroid_size
from device.records.dayfolder import DayFolder
from export.landmarks_folder import (
    HEADER,
    LANDMARKS_CSV,
    MAX_LANDMARKS,
    NAMES_CSV,
    read_landmarks_folder,
    read_names,
)
from export.tps import format_tps, parse_tps, specimen_points

MAX_TPS_BYTES = 16 * 1024 * 1024
# mirrored and flags from the day's records, so that a wing the other side up can be reflected
# and a torn or folded one set aside before a Procrustes fit in MorphoJ or geomorph
SIZES_HEADER = ["image", "centroid_size_px", "centroid_size_mm", "mirrored", "flags"]


@dataclass
class TpsImport:
    specimens: int
    landmarks: int
    notes: list[str] = field(default_factory=list)


def _image_name(value: str) -> str:
    """IMAGE= as a name inside images/: the part after the last / or \\."""
    return re.split(r"[\\/]", value.strip())[-1]


def import_tps(src: str | Path, folder: str | Path, replace: bool = False) -> TpsImport:
    src, folder = Path(src), Path(folder)
    where = printable_path(src)
    if not os.path.lexists(src):
        raise BadInput(f"{where}: no such file")
    if not src.is_file():
        raise BadInput(f"{where}: not a regular file (a TPS file is text)")
    if src.stat().st_size > MAX_TPS_BYTES:
        raise BadInput(f"{where}: over {MAX_TPS_BYTES // 2**20} MiB: not a TPS file of landmarks")
    try:
        text = src.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        text = src.read_text(encoding="latin-1")  # tpsDig on Windows writes the ANSI page
    specimens = parse_tps(text, where)
    n = len(specimens[0].points)
    if not 1 <= n <= MAX_LANDMARKS:
        raise BadInput(f"{where}: LM={n}: a landmarks folder holds 1 to {MAX_LANDMARKS}")
    img_dir = folder / "images"
    if not img_dir.is_dir():
        raise BadInput(f"{printable_path(folder)}: no images/ folder (put the images there first)")
    images = {p.name: p for p in img_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    names_path = folder / NAMES_CSV
    if names_path.exists():
        named = len(read_names(names_path))
        if named != n:
            raise BadInput(f"{where}: LM={n}, but {printable_path(names_path)} names {named}")
    missing = sorted({_image_name(s.image) for s in specimens} - set(images) - {""})
    if missing:
        raise BadInput(
            f"{where}: {len(missing)} of its {len(specimens)} images are not in "
            f"{printable_path(img_dir)} ({printable(missing[0])!r} first): put them there first"
        )
    rows: dict[str, list[str]] = {}
    for i, s in enumerate(specimens, start=1):
        if len(s.points) != n:
            raise BadInput(f"{where}: specimen {i} has LM={len(s.points)}, the first has {n}")
        name = _image_name(s.image)
        if not name:
            raise BadInput(f"{where}: specimen {i} has no IMAGE= to match it to an image")
        if name not in images:
            raise BadInput(f"{where}: specimen {i}: IMAGE={printable(name)!r} is not in images/")
        if name in rows:
            raise BadInput(f"{where}: specimen {i}: a second specimen for {printable(name)!r}")
        height, width = read_rgb(images[name]).shape[:2]
        pts = s.image_points(height)
        out = []
        for k, (x, y) in enumerate(pts, start=1):
            if not (math.isfinite(x) and math.isfinite(y)):
                continue  # missing (negative in the file)
            if not (0 <= x < width and 0 <= y < height):
                raise BadInput(
                    f"{where}: specimen {i} landmark {k} at ({x:g}, {y:g}) is outside "
                    f"{printable(name)!r} ({width}x{height}; TPS y runs up from the bottom edge)"
                )
            out.append(csv_line([name, k, round(x, 2) + 0.0, round(y, 2) + 0.0]))  # -0.0 is 0
        rows[name] = out
    kept = _existing_rows(folder / LANDMARKS_CSV, set(rows), replace, n)
    body = csv_line(HEADER) + "".join(kept) + "".join(r for v in rows.values() for r in v)
    write_atomic(folder / LANDMARKS_CSV, body.encode("utf-8"))
    notes = []
    if len(images) > len(rows):
        bare = len(images) - len(rows)
        notes.append(f"{amount(bare, 'image')} in images/ without a specimen in the file")
    curves = sum(s.curve_points for s in specimens)
    if curves:
        notes.append(
            f"{amount(curves, 'curve point')} (tpsDig outlines, semilandmarks) not kept: a "
            "landmarks folder holds landmarks only"
        )
    if any(s.scale is not None for s in specimens):
        notes.append(
            "SCALE= is not kept: landmarks.csv holds pixels (the bench's scale comes from "
            "`scopecount calibrate`; `export tps --um-per-px` writes it back)"
        )
    return TpsImport(len(rows), n, notes)


def _existing_rows(path: Path, incoming: set[str], replace: bool, n: int) -> list[str]:
    """landmarks.csv's rows of images the TPS file does not bring (all of them checked)."""
    if not os.path.lexists(path):
        return []
    from export.csv_rows import csv_rows

    kept, clash = [], set()
    for line, row in csv_rows(path, HEADER):
        if len(row) != 4:
            raise BadInput(f"{printable_path(path)}: row {line}: expected image,landmark,x,y")
        if row[1].isdigit() and int(row[1]) > n:
            raise BadInput(
                f"{printable_path(path)}: row {line} has landmark {row[1]}, the TPS file {n}: "
                "one folder holds one set of landmarks"
            )
        name = restore(row[0])
        if name in incoming:
            clash.add(name)
            continue
        kept.append(csv_line([name, *row[1:]]))
    if clash and not replace:
        first = printable(sorted(clash)[0])
        raise BadInput(
            f"{printable_path(path)}: {len(clash)} images already have landmarks ({first!r} "
            "first): --replace overwrites them"
        )
    return kept


@dataclass(frozen=True)
class RecordFacts:
    """What a day folder's record says of one image, beyond its landmarks."""

    mm_per_px: float | None
    mirrored: str  # yes, no or '' (not known)
    flags: str  # space-separated


def _record_facts(folder: Path) -> dict[str, RecordFacts]:
    """Image name -> its record's scale (calibrated records only), side and flags."""
    day = DayFolder(folder)
    if not day.records_path.exists():
        return {}
    out = {}
    for r in day.records(on_bad=lambda n, w: None):
        um = plain_number(r.extra.get("um_per_px"), UM_PER_PX_RANGE[1], UM_PER_PX_RANGE[0])
        side = r.extra.get("mirrored")  # a record line may carry anything: only true/false
        # a flag is a word: an empty or spaced one (a hand-edited line) would not read back
        flags = [f for f in r.flags if f.isprintable() and f and not any(c.isspace() for c in f)]
        scale = None if um is None else um / 1000.0
        before = out.get(r.image_name)
        out[r.image_name] = RecordFacts(
            scale if scale is not None or before is None else before.mm_per_px,
            {True: "yes", False: "no"}.get(side, "") if isinstance(side, bool) else "",
            " ".join(flags),
        )
    return out


def export_tps(
    folder: str | Path, out_dir: str | Path, um_per_px: float | None = None
) -> tuple[Path, Path, int]:
    """OUT_DIR/NAME.tps and OUT_DIR/NAME_centroid_sizes.csv; returns both and the specimens."""
    lf = read_landmarks_folder(folder)
    out_dir = Path(out_dir)
    writable_dir(out_dir, "OUT_DIR")
    facts = _record_facts(lf.root)
    given = None if um_per_px is None else um_per_px / 1000.0
    specimens, sizes = [], [csv_line(SIZES_HEADER)]
    for s in lf.samples:
        known = facts.get(s.name, RecordFacts(None, "", ""))
        scale = given if given is not None else known.mm_per_px
        specimens.append(specimen_points(s.points, s.height, s.name, scale))
        cs = centroid_size(s.points)
        mm = "" if scale is None or math.isnan(cs) else f"{cs * scale:.5f}"
        size = "" if math.isnan(cs) else f"{cs:.3f}"
        sizes.append(csv_line([s.name, size, mm, known.mirrored, known.flags]))
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", lf.root.resolve().name)[:60] or "landmarks"
    tps, csv_path = out_dir / f"{stem}.tps", out_dir / f"{stem}_centroid_sizes.csv"
    write_atomic(csv_path, "".join(sizes).encode("utf-8"))
    write_atomic(tps, format_tps(specimens).encode("utf-8"))
    return tps, csv_path, len(specimens)
