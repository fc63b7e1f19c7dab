"""The day folder: the one owner of its format. Every writer and reader goes through here.

  <root>/scopecount/<YYYY-MM-DD>/records.jsonl  one JSON object per record, append-only, never
                                                rewritten (the commit point of a record)
                                 counts.csv     long layout, one row per record and class:
                                                id,time,sample,model,class,count,flags,voided
                                                (any class set fits one file; regenerated
                                                atomically from records + voids on a void)
                                 points.csv     image,x,y,label: the predicted points
                                 images/<id>.jpg
                                 voids.jsonl    {"id", "time"} of records voided by a long hold
                                 masks/, classes.csv, areas.csv: areas records only
                                                (device/records/areas_files.py)
                                 landmarks.csv, centroid_sizes.csv: landmarks records only
                                                (device/records/landmark_files.py)
The same layout is used on the stick and in the spool, and a day folder is a training folder.
File names carry record ids only, never class names or sample ids. Text cells in the CSVs are
neutralised against spreadsheet formulas; records.jsonl keeps the raw values.
"""

from __future__ import annotations

import csv
import json
import logging
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from device.core.csvsafe import csv_line, restore
from device.core.durable import (
    REPAIR_MAX_BYTES,
    append_line,
    can_sync_filesystem,
    create_durable,
    json_object_line,
    makedirs_durable,
    repair_torn_tail,
    sync_filesystem,
    text_line,
    write_unsynced,
)
from device.core.imageio import write_atomic
from device.records.areas_files import MASKS, areas_text, fit_mask, mask_name, record_values
from device.records.landmark_files import landmarks_text, sizes_text
from device.records.record import Detection, Record, Void

log = logging.getLogger(__name__)

SUBDIR = "scopecount"
POINTS_HEADER = ["image", "x", "y", "label"]
COUNTS_HEADER = ["id", "time", "sample", "model", "class", "count", "flags", "voided"]
# Flags that make a count meaningless: left out of totals (records summary).
# Records kept out of the summary's totals: nothing countable in the frame, a model whose
# numbers mean nothing (the shipped demo, trained on synthetic vials; a model that never learnt),
# or a frame outside the zooms the model counts well at.
# Landmarks: a wing with an unsure landmark or a shape far from the taught ones (torn, folded).
# Areas: a frame whose class map is uncertain over much of it.
UNCOUNTABLE = frozenset(
    {
        "empty",
        "underexposed",
        "overexposed",
        "demo",
        "not-learnt",
        "zoom",
        "unsure",
        "shape",
        "uncertain",
    }
)


@dataclass(frozen=True)
class Entry:
    """One record to append with its image (None: none kept) and its points rows."""

    rec: Record
    image: bytes | None
    detections: tuple[Detection, ...] = ()
    skip_points: bool = False  # its rows are there already (a cut merge wrote them)
    mask: bytes | None = None  # an areas record's class map (PNG)
    mask_values: dict[int, str] | None = None  # its grey values' classes (None: the record's)


@dataclass(frozen=True)
class Derived:
    """A CSV of one task's records, appended with them and regenerated from records.jsonl."""

    path: Path
    text: Callable[[list[Record], set[str]], str]  # header and rows (voided ids given)
    key: str  # records with this key in their extra belong in it
    regenerated: bool = True  # False: appended only (a file people correct by hand)


class DayFolder:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.records_path = self.path / "records.jsonl"
        self.counts_path = self.path / "counts.csv"
        self.points_path = self.path / "points.csv"
        self.voids_path = self.path / "voids.jsonl"
        self.images = self.path / "images"
        self.masks = self.path / MASKS
        self.areas_path = self.path / "areas.csv"
        self.landmarks_path = self.path / "landmarks.csv"
        self.sizes_path = self.path / "centroid_sizes.csv"
        self.derived = (
            Derived(self.areas_path, areas_text, "areas"),
            Derived(self.landmarks_path, landmarks_text, "landmarks", regenerated=False),
            Derived(self.sizes_path, sizes_text, "landmarks"),
        )

    @property
    def day(self) -> str:
        return self.path.name

    @staticmethod
    def of(root: Path, day: str) -> DayFolder:
        return DayFolder(Path(root) / SUBDIR / day)

    @staticmethod
    def all_in(root: Path) -> list[DayFolder]:
        """The day folders under root (a stick, a spool or their scopecount/ folder), by day."""
        root = Path(root)
        base = root / SUBDIR if (root / SUBDIR).is_dir() else root
        found = sorted(base.glob("*/records.jsonl"))
        return [DayFolder(p.parent) for p in found if not p.parent.name.startswith(".")]

    # -- writing ----------------------------------------------------------------------------
    def append(
        self,
        rec: Record,
        image: bytes | None,
        detections: Iterable[Detection],
        skip_points: bool = False,
    ) -> None:
        """One record: see append_many."""
        self.append_many([Entry(rec, image, tuple(detections), skip_points)])

    def append_many(self, entries: Sequence[Entry]) -> None:
        """Images, points rows, counts rows, then the record lines: the lines are the commit
        point. Each file gets one write(), fsync'd (a batch's images all at once, by one sync
        of their filesystem); a crash before the record lines leaves rows that a merge of the
        same record skips (skip_points) or a regeneration replaces (counts)."""
        if not entries:
            return
        makedirs_durable(self.images)
        # A stick pulled during an append and plugged back into the running bench can end in
        # half a line (never acknowledged: its records are still in the spool or were refused);
        # appended to as it is, the next line would join it and both would be unreadable.
        for path in (self.points_path, self.counts_path, *self._derived_paths, self.records_path):
            repair_torn_tail(path, self._whole(path))
        self._write_masks(entries)
        images = [(e.rec.image_name, e.image) for e in entries if e.image is not None]
        if len(images) == 1 or not can_sync_filesystem():
            for name, data in images:
                write_atomic(self.images / name, data)
        elif images:
            for name, data in images:
                write_unsynced(self.images / name, data)
            sync_filesystem(self.images)
        rows = "".join(
            csv_line([e.rec.image_name, round(d.x, 1), round(d.y, 1), d.label])
            for e in entries
            if not e.skip_points
            for d in e.detections
        )
        header = csv_line(POINTS_HEADER)
        if rows or not self.points_path.exists():
            append_line(self.points_path, rows or header, header=header if rows else None)
        lines = "\n".join(e.rec.to_json() for e in entries)
        # records.jsonl exists (durably) before any counts row: a counts.csv beside a missing
        # records.jsonl is then never a cut of ours, and the start-up leaves its rows alone.
        create_durable(self.records_path)
        if self._counts_layout_ok():
            header = csv_line(COUNTS_HEADER)
            rows = "".join(self._count_rows(e.rec, voided=False) for e in entries)
            if rows or not self.counts_path.exists():
                append_line(self.counts_path, rows or header, header=header if rows else None)
            self._append_derived(entries)
            append_line(self.records_path, lines)
        else:  # a counts.csv of an older layout: rewritten whole once the records are in
            append_line(self.records_path, lines)
            self.write_counts()

    def _write_masks(self, entries: Sequence[Entry]) -> None:
        masks = [(mask_name(e.rec), e) for e in entries if e.mask is not None]
        for name, e in masks:
            if name is None or e.mask is None:
                continue
            makedirs_durable(self.masks)
            values = e.mask_values or record_values(e.rec)
            write_atomic(self.masks / name, fit_mask(self.path, e.mask, values))

    @property
    def _derived_paths(self) -> list[Path]:
        return [d.path for d in self.derived]

    def _append_derived(self, entries: Sequence[Entry]) -> None:
        for d in self.derived:
            rows = d.text([e.rec for e in entries], set())
            if rows.count("\n") > 1:  # more than the header
                header, body = rows.split("\n", 1)
                append_line(d.path, body, header=header + "\n")

    def _counts_layout_ok(self) -> bool:
        if not self.counts_path.exists():
            return True
        with open(self.counts_path, encoding="utf-8", errors="replace") as f:
            return f.readline() in ("", csv_line(COUNTS_HEADER))

    @staticmethod
    def _count_rows(rec: Record, voided: bool) -> str:
        flags = " ".join(rec.flags)
        return "".join(
            csv_line(
                [rec.id, rec.time, rec.sample, rec.model, c, n, flags, "yes" if voided else ""]
            )
            for c, n in rec.counts.items()
        )

    def add_void(self, void: Void, regenerate: bool = True) -> bool:
        """List a voided id (once) and regenerate counts.csv to show it. False if it was there."""
        if void.id in self.voided_ids():  # voiding is by id: once is enough
            return False
        makedirs_durable(self.path)
        append_line(self.voids_path, json.dumps({"id": void.id, "time": void.time}))
        if regenerate and self.records_path.exists():
            self.write_counts()
        return True

    def _counts_text(self, recs: list[Record] | None = None) -> str:
        voided = self.voided_ids()
        recs = self.records(on_bad=lambda n, w: None) if recs is None else recs
        return csv_line(COUNTS_HEADER) + "".join(self._count_rows(r, r.id in voided) for r in recs)

    def write_counts(self) -> None:
        """counts.csv (and each task's CSV) from records.jsonl and voids.jsonl, replaced
        atomically."""
        write_atomic(self.counts_path, self._counts_text().encode("utf-8"))
        recs = None
        for d in self.derived:
            if d.path.exists():
                recs = self.records(on_bad=lambda n, w: None) if recs is None else recs
                self._write_derived(d, recs)

    def _write_derived(self, d: Derived, recs: list[Record]) -> bool:
        """One task's CSV as the records say; True when it changed."""
        if not d.regenerated:
            return False
        want = d.text(recs, self.voided_ids()).encode("utf-8")
        try:
            if d.path.read_bytes() == want:
                return False
        except FileNotFoundError:
            if not any(d.key in r.extra for r in recs):
                return False
        write_atomic(d.path, want)
        return True

    # -- reading ----------------------------------------------------------------------------
    def lines(self) -> list[str]:
        if not self.records_path.exists():
            return []
        return self.records_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def records(self, on_bad: Callable[[int, str], None] | None = None) -> list[Record]:
        """Every readable record; a bad line is reported to on_bad(line_number, why), or logged."""
        out = []
        for n, line in enumerate(self.lines(), 1):
            try:
                out.append(Record.from_json(line))
            except ValueError as e:
                if on_bad is not None:
                    on_bad(n, str(e))
                else:
                    log.warning("%s: line %d skipped (%s)", self.records_path, n, e)
        return out

    def voids(self) -> list[Void]:
        out = []
        if self.voids_path.exists():
            for line in self.voids_path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    d = json.loads(line)
                    out.append(Void(str(d["id"]), str(d.get("time", ""))))
                except (ValueError, KeyError, TypeError):
                    log.warning("%s: bad line skipped: %r", self.voids_path, line[:80])
        return out

    def voided_ids(self) -> set[str]:
        return {v.id for v in self.voids()}

    def voided_images(self) -> set[str]:
        """Image names of voided records (a training reader leaves them out)."""
        voided = self.voided_ids()
        return {r.image_name for r in self.records(on_bad=lambda n, w: None) if r.id in voided}

    def detections(self) -> dict[str, list[Detection]]:
        """points.csv by image name (labels as they were before neutralisation)."""
        out: dict[str, list[Detection]] = {}
        if not self.points_path.exists():
            return out
        with open(self.points_path, newline="", encoding="utf-8", errors="replace") as f:
            rows = csv.reader(f)
            next(rows, None)
            for row in rows:
                if len(row) != 4:
                    continue
                try:
                    d = Detection(float(row[1]), float(row[2]), restore(row[3]))
                except ValueError:
                    continue
                out.setdefault(row[0], []).append(d)
        return out

    # -- start-up ---------------------------------------------------------------------------
    def _whole(self, path: Path) -> Callable[[bytes], bool]:
        return json_object_line if path.suffix == ".jsonl" else text_line

    def _regenerable(self) -> list[Record] | None:
        """The records, read whole, when the derived CSVs may be regenerated from them; None
        when not (no records.jsonl, an unreadable line, a file too large or not regular)."""
        for p in (self.records_path, self.counts_path, *self._derived_paths):
            try:
                st = p.lstat()
            except FileNotFoundError:
                if p == self.records_path:
                    return None  # no records: counts.csv is all there is, left as it is
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_size > REPAIR_MAX_BYTES:
                return None
        bad: list[int] = []
        recs = self.records(on_bad=lambda n, why: bad.append(n))
        return None if bad else recs

    def repair(self) -> list[Path]:
        """Cut torn last lines (a power cut) and remove temporary files a kill left behind."""
        fixed = []
        for p in (
            self.records_path,
            self.voids_path,
            self.points_path,
            self.counts_path,
            *self._derived_paths,
        ):
            if repair_torn_tail(p, self._whole(p)):
                log.warning("%s: torn last line cut (power cut?)", p)
                fixed.append(p)
        for folder in (self.path, self.images, self.masks):
            if not folder.is_dir():
                continue
            for p in folder.iterdir():
                # write_atomic's temporary names: .<name>.tmp<pid>
                if p.name.startswith(".") and ".tmp" in p.name and p.is_file():
                    p.unlink(missing_ok=True)
                    log.info("%s: temporary file left by a kill removed", p)
                    fixed.append(p)
        # A cut between a batch's counts rows and its record lines leaves rows for records
        # that were never made (and a void's regeneration may not have happened): counts.csv
        # says what records.jsonl and voids.jsonl say again before anything is appended.
        # Only from a records.jsonl read whole: rows are never dropped for lines it cannot read.
        recs = self._regenerable()
        if recs is not None:
            want = self._counts_text(recs).encode("utf-8")
            try:
                have = self.counts_path.read_bytes()
            except FileNotFoundError:
                have = b""
            if have != want:
                write_atomic(self.counts_path, want)
                log.warning("%s: rewritten from records.jsonl (power cut?)", self.counts_path)
                fixed.append(self.counts_path)
            for d in self.derived:
                if self._write_derived(d, recs):
                    log.warning("%s: rewritten from records.jsonl (power cut?)", d.path)
                    fixed.append(d.path)
        return fixed
