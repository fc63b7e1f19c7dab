"""Spool -> stick, one record at a time, so that a flush cut anywhere loses nothing.

For each spooled record, in order: check the stick is still the mounted filesystem; if a record
with the same content is on the stick already, it is not written again; if its id is taken by a
different record (another bench, a lost counter), it is written under a new id and reported;
then its image, points and counts rows and record line go to the stick (fsync'd), the stick is
checked again, and only then is the record marked done in the spool (flushed.jsonl, by line).
A cut before the mark leaves the record in both places; the next flush finds it by content.
A spool day folder is removed once every line is done and its voids are on the stick.

A flush runs in slices (`deadline`): on a cheap FAT stick each record costs several fsyncs, and a
morning's spool must not keep the bench's worker from a press, nor from its watchdog, for
longer than a slice. A slice always moves at least one record, so every flush makes progress.
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
from device.records.dayfolder import DayFolder, Detection, Record, Void, unique_id

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


def _mark(src: DayFolder, n: int, old: str, new: str) -> None:
    append_line(src.path / PROGRESS, json.dumps({"line": n, "id": old, "as": new}))


def flush_day(
    src: DayFolder,
    dest: DayFolder,
    still_mounted: Callable[[], bool],
    quarantine: Path,
    deadline: float | None = None,
) -> FlushReport:
    """Flush one spool day; with a `deadline` (time.monotonic()), stop after the record that
    passes it (report.more) and go on from there at the next call."""
    return _DayFlush(src, dest, still_mounted, quarantine).run(deadline)


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
    ) -> None:
        self.src, self.dest = src, dest
        self.still_mounted = still_mounted
        self.quarantine = quarantine
        self.rep = FlushReport()
        self.done = progress(src)  # spool line -> (spool id, stick id), across cut flushes

    def run(self, deadline: float | None) -> FlushReport:
        lines = self.src.lines()
        todo = [n for n in range(len(lines)) if n not in self.done]
        if todo and not self._move(lines, todo, deadline):
            return self.rep
        return self._close_day()

    def _move(self, lines: list[str], todo: list[int], deadline: float | None) -> bool:
        """The records not moved yet; False where the stick went or the slice ended."""
        if not self.still_mounted():
            self.rep.complete = False
            return False
        makedirs_durable(self.dest.images)
        stick = StickIndex.read(self.dest)
        points = self.src.detections()
        rep = self.rep
        for n in todo:
            if deadline is not None and rep.moved + rep.skipped and time.monotonic() >= deadline:
                rep.complete, rep.more = False, True
                return False
            if not self.still_mounted():
                rep.complete = False
                return False
            ids = self._one(n, lines[n], stick, points)
            if ids is None:  # quarantined (and marked done)
                continue
            if not self.still_mounted():  # written to a stick that is going: the spool keeps it
                rep.complete = False
                return False
            _mark(self.src, n, *ids)
            self.done[n] = ids
        return True

    def _one(
        self, n: int, line: str, stick: StickIndex, points: dict[str, list[Detection]]
    ) -> tuple[str, str] | None:
        """One spool line onto the stick: (its spool id, its stick id), or None when the line
        is unreadable (kept aside in the quarantine)."""
        try:
            rec = Record.from_json(line)
        except ValueError as e:
            makedirs_durable(self.quarantine)
            append_line(self.quarantine / f"{self.src.day}.jsonl", line)
            log.error(
                "%s: line %d unreadable (%s): kept in %s",
                self.src.records_path,
                n + 1,
                e,
                self.quarantine,
            )
            _mark(self.src, n, "", "")
            self.rep.quarantined += 1
            return None
        key = rec.content_key()
        if key in stick.by_key:
            self.rep.skipped += 1
            return rec.id, stick.by_key[key]
        return rec.id, self._write(rec, key, stick, points)

    def _write(
        self, rec: Record, key: str, stick: StickIndex, points: dict[str, list[Detection]]
    ) -> str:
        """A record not on the stick yet: written there (under a new id where its own is
        taken); its id on the stick."""
        target = unique_id(rec.id, stick.taken.__contains__)
        out = rec.moved(target, "stick")
        out.extra["flushed_from_spool"] = True
        img = self.src.images / rec.image_name
        image = img.read_bytes() if img.exists() else None
        skip_points = out.image_name in stick.with_points
        self.dest.append(out, image, points.get(rec.image_name, []), skip_points=skip_points)
        stick.by_key[key] = target
        stick.taken.add(target)
        self.rep.moved += 1
        if target != rec.id:
            log.warning(
                "flush: %s clashes with a different record on the stick: kept as %s",
                rec.id,
                target,
            )
            self.rep.renamed.append((rec.id, target))
        return target

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
