"""Spool -> stick, one record at a time, so that a flush cut anywhere loses nothing.

For each spooled record, in order: check the stick is still the mounted filesystem; if a record
with the same content is on the stick already, it is not written again; if its id is taken by a
different record (another bench, a lost counter), it is written under a new id and reported;
then its image, points and counts rows and record line go to the stick (fsync'd), the stick is
checked again, and only then is the record marked done in the spool (flushed.jsonl, by line).
A cut before the mark leaves the record in both places; the next flush finds it by content.
A spool day folder is removed once every line is done and its voids are on the stick.

Records go in batches: a batch's images, rows and lines are each made durable once (a cheap FAT
stick rewrites both file tables and a folder block at every fsync, so one record at a time costs
about twenty writes), and the batch is marked done together after it. A cut inside a batch is
like a cut inside one record: what reached the stick is found by content next time.

A flush runs in slices (`deadline`): a morning's spool must not keep the bench's worker from a
press, nor from its watchdog, for longer than a slice. Each batch is sized from how long the
last one took (FlushPace), and a slice stops before a batch that would not fit; a slice always
moves at least one record, so every flush makes progress.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from device.core.durable import append_line, fsync_dir, makedirs_durable
from device.records.areas_files import mask_name, read_values
from device.records.dayfolder import DayFolder, Entry
from device.records.record import Detection, Record, Void, unique_id

log = logging.getLogger(__name__)

PROGRESS = "flushed.jsonl"
DONE_PREFIX = ".done-"


@dataclass
class FlushReport:
    moved: int = 0  # written to the stick now
    skipped: int = 0  # already on the stick (an earlier flush was cut)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (spool id, stick id)
    quarantined: int = 0  # unreadable spool lines, kept aside
    complete: bool = True  # False: the stick went away or the slice ended; the rest waits
    more: bool = False  # the slice's time ran out (the stick is still there): flush again soon

    def add(self, other: FlushReport) -> None:
        self.moved += other.moved
        self.skipped += other.skipped
        self.renamed += other.renamed
        self.quarantined += other.quarantined
        self.complete = self.complete and other.complete
        self.more = self.more or other.more


def progress(src: DayFolder) -> dict[int, tuple[str, str]]:
    """Spool line number (from 0) -> (its id in the spool, its id on the stick); ('', '') for a
    quarantined line."""
    done: dict[int, tuple[str, str]] = {}
    path = src.path / PROGRESS
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                d = json.loads(line)
                done[int(d["line"])] = (str(d.get("id") or ""), str(d.get("as") or ""))
            except (ValueError, KeyError, TypeError):
                continue
    return done


def waiting(src: DayFolder) -> int:
    return len(src.lines()) - len(progress(src))


def _mark(src: DayFolder, marks: list[tuple[int, str, str]]) -> None:
    """Spool lines done, as (line, spool id, stick id): one write, one fsync."""
    if marks:
        text = "\n".join(json.dumps({"line": n, "id": old, "as": new}) for n, old, new in marks)
        append_line(src.path / PROGRESS, text)


MAX_BATCH = 64  # records: a whole flush (no deadline) goes in batches of this many
BATCH_BYTES = 16 * 2**20  # images a batch holds in memory at most (a Zero 2 W has ~420 MB)


@dataclass
class FlushPace:
    """Sizes each batch of a flush from how long the last one took against the slice: one
    record first, then twice as many while a batch takes under half a slice, half as many when
    one took longer than a slice. Time per record does not predict a batch (a FAT stick's
    table and folder writes cost the same for one record as for twenty), so batches grow until
    time says stop. The Recorder keeps one across the slices of a flush and starts again for
    the next stick."""

    last: int = 0  # records in the last batch
    last_s: float = 0.0  # and its seconds

    def batch(self, slice_s: float | None) -> int:
        if slice_s is None:
            return MAX_BATCH
        if not self.last:
            return 1
        if self.last_s * 2 <= slice_s:
            return min(MAX_BATCH, 2 * self.last)
        if self.last_s > slice_s:
            return max(1, self.last // 2)
        return self.last

    def fits(self, left_s: float) -> bool:
        """Whether a batch like the last fits in what is left of the slice."""
        return self.last_s <= left_s

    def measured(self, records: int, seconds: float) -> None:
        if records:
            self.last, self.last_s = records, seconds


def flush_day(
    src: DayFolder,
    dest: DayFolder,
    still_mounted: Callable[[], bool],
    quarantine: Path,
    deadline: float | None = None,
    pace: FlushPace | None = None,
) -> FlushReport:
    """Flush one spool day; with a `deadline` (time.monotonic()), stop after the batch that
    passes it (report.more) and go on from there at the next call."""
    return _DayFlush(src, dest, still_mounted, quarantine, pace or FlushPace()).run(deadline)


@dataclass
class StickIndex:
    """What the stick's day folder holds, read once per flush and kept up to date as records
    go to it: a record there already (by content) is not written again, and an id another
    record holds there is not reused."""

    by_key: dict[str, str]  # content key -> the record's id on the stick
    taken: set[str]  # ids in use on the stick
    with_points: set[str]  # images whose points rows are on the stick

    @classmethod
    def read(cls, dest: DayFolder) -> StickIndex:
        on_stick = dest.records()
        return cls(
            by_key={r.content_key(): r.id for r in on_stick},
            taken={r.id for r in on_stick},
            with_points=set(dest.detections()),
        )


class _DayFlush:
    """One flush of one spool day: its records in order, then its voids, then the day retired.
    Any step finds the stick gone: the report says incomplete, and the spool keeps the rest."""

    def __init__(
        self,
        src: DayFolder,
        dest: DayFolder,
        still_mounted: Callable[[], bool],
        quarantine: Path,
        pace: FlushPace,
    ) -> None:
        self.src, self.dest = src, dest
        self.still_mounted = still_mounted
        self.quarantine = quarantine
        self.pace = pace
        self.rep = FlushReport()
        self.done = progress(src)  # spool line -> (spool id, stick id), across cut flushes

    def run(self, deadline: float | None) -> FlushReport:
        lines = self.src.lines()
        todo = [n for n in range(len(lines)) if n not in self.done]
        if todo and not self._move(lines, todo, deadline):
            return self.rep
        return self._close_day()

    def _move(self, lines: list[str], todo: list[int], deadline: float | None) -> bool:
        """The records not moved yet, batch by batch; False where the stick went or the slice
        ended."""
        if not self.still_mounted():
            self.rep.complete = False
            return False
        makedirs_durable(self.dest.images)
        stick = StickIndex.read(self.dest)
        points = self.src.detections()
        rep = self.rep
        slice_s = None if deadline is None else max(0.0, deadline - time.monotonic())
        while todo:
            now = time.monotonic()
            if (
                deadline is not None
                and rep.moved + rep.skipped
                and (now >= deadline or not self.pace.fits(deadline - now))
            ):
                rep.complete, rep.more = False, True
                return False
            if not self.still_mounted():
                rep.complete = False
                return False
            batch = todo[: self.pace.batch(slice_s)]
            marks, entries, taken = self._plan(batch, lines, stick, points)
            todo = todo[taken:]
            self.dest.append_many(entries)
            rep.moved += len(entries)
            if not self.still_mounted():  # written to a stick that is going: the spool keeps it
                rep.complete = False
                return False
            _mark(self.src, marks)
            self.done.update({n: (old, new) for n, old, new in marks})
            self.pace.measured(len(entries), time.monotonic() - now)
        return True

    def _plan(
        self,
        batch: list[int],
        lines: list[str],
        stick: StickIndex,
        points: dict[str, list[Detection]],
    ) -> tuple[list[tuple[int, str, str]], list[Entry], int]:
        """A batch of spool lines: their marks (line, spool id, stick id) once the batch is on
        the stick, the records to write there, and how many lines of `batch` it took (its
        images, held in memory together, stop at BATCH_BYTES). Unreadable lines go to the
        quarantine now."""
        marks: list[tuple[int, str, str]] = []
        entries: list[Entry] = []
        held = 0
        taken = 0
        for n in batch:
            if held >= BATCH_BYTES:
                break
            taken += 1
            try:
                rec = Record.from_json(lines[n])
            except ValueError as e:
                self._quarantine(n, lines[n], e)
                continue
            key = rec.content_key()
            if key in stick.by_key:  # on the stick already (a cut flush), or twice in the spool
                self.rep.skipped += 1
                marks.append((n, rec.id, stick.by_key[key]))
                continue
            entry = self._entry(rec, stick, points)
            stick.by_key[key] = entry.rec.id
            stick.taken.add(entry.rec.id)
            entries.append(entry)
            marks.append((n, rec.id, entry.rec.id))
            held += len(entry.image or b"")
        return marks, entries, taken

    def _quarantine(self, n: int, line: str, why: ValueError) -> None:
        makedirs_durable(self.quarantine)
        append_line(self.quarantine / f"{self.src.day}.jsonl", line)
        log.error(
            "%s: line %d unreadable (%s): kept in %s",
            self.src.records_path,
            n + 1,
            why,
            self.quarantine,
        )
        _mark(self.src, [(n, "", "")])
        self.done[n] = ("", "")
        self.rep.quarantined += 1

    def _entry(self, rec: Record, stick: StickIndex, points: dict[str, list[Detection]]) -> Entry:
        """A record not on the stick yet, as it goes there (under a new id where its own is
        taken)."""
        target = unique_id(rec.id, stick.taken.__contains__)
        out = rec.moved(target, "stick")
        out.extra["flushed_from_spool"] = True
        img = self.src.images / rec.image_name
        image = img.read_bytes() if img.exists() else None
        name = mask_name(rec)
        mask_file = self.src.masks / name if name else None
        mask = mask_file.read_bytes() if mask_file is not None and mask_file.is_file() else None
        skip_points = out.image_name in stick.with_points
        if target != rec.id:
            log.warning(
                "flush: %s clashes with a different record on the stick: kept as %s",
                rec.id,
                target,
            )
            self.rep.renamed.append((rec.id, target))
        values = read_values(self.src.path / "classes.csv") if mask is not None else None
        return Entry(out, image, tuple(points.get(rec.image_name, [])), skip_points, mask, values)

    def _close_day(self) -> FlushReport:
        """Every record is on the stick: now its voids (ids as they are there), once each, then
        the spool day goes."""
        if not self.still_mounted():
            self.rep.complete = False
            return self.rep
        renamed = {old: new for old, new in self.done.values() if old}
        for v in self.src.voids():
            self.dest.add_void(Void(renamed.get(v.id, v.id), v.time), regenerate=False)
        if self.dest.records_path.exists():
            self.dest.write_counts()  # rows a cut flush wrote twice are gone, voids are marked
        if not self.still_mounted():
            self.rep.complete = False
            return self.rep
        _retire(self.src.path)
        return self.rep


def _retire(day_dir: Path) -> None:
    """Rename first (one atomic step), then delete: a kill in the middle leaves a .done- folder
    that the next start removes, never a half-deleted spool day that looks like records."""
    gone = day_dir.with_name(DONE_PREFIX + day_dir.name)
    day_dir.rename(gone)
    fsync_dir(day_dir.parent)
    shutil.rmtree(gone)
    fsync_dir(day_dir.parent)


def clean_retired(spool_days: Path) -> None:
    if spool_days.is_dir():
        for p in spool_days.glob(DONE_PREFIX + "*"):
            shutil.rmtree(p, ignore_errors=True)
