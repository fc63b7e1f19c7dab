"""Where records go: day folders on the USB stick, or a spool on the SD card laid out the same.

The day-folder format is device/records/dayfolder.py's; the spool -> stick merge is
device/records/flush.py's.
A removable storage path is written only while a filesystem is really mounted there, and then
through a held folder descriptor (device/mounts.PinnedRoot), so a pulled stick never leaves
files on the bare mount point. Record ids are <bench name>-<install id>-<YYYYMMDD>-<seq>: the
install id is random, made once per spool, so that benches sharing a name never share ids.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from device.core.durable import (
    fsync_dir,
    json_object_line,
    makedirs_durable,
    repair_torn_tail,
)
from device.core.imageio import encode, write_atomic
from device.records.areas_files import mask_png
from device.records.dayfolder import SUBDIR, DayFolder, Entry
from device.records.flush import (
    PROGRESS,
    FlushPace,
    FlushReport,
    clean_retired,
    flush_day,
    waiting,
)
from device.records.history import last_sample, max_seq
from device.records.mounts import PinnedRoot, free_bytes, mount_at
from device.records.record import Detection, Record, Void

__all__ = ["SUBDIR", "Recorder", "StorageFull", "StorageState", "FlushReport"]
log = logging.getLogger(__name__)


class StorageFull(Exception):
    """No room for another record anywhere: the capture is refused before it starts."""


@dataclass
class StorageState:
    where: str  # stick | local | spool
    reason: str  # why the spool is used, or ""
    free_mb: float
    waiting: int  # records in the spool waiting for a stick
    warning: str = ""

    def as_dict(self) -> dict:
        return {
            "where": self.where,
            "reason": self.reason,
            "free_mb": round(self.free_mb, 1),
            "waiting": self.waiting,
            "warning": self.warning,
        }


def clock_synchronised() -> bool:
    """systemd-timesyncd marks a synchronised clock with this file (a Pi has no RTC)."""
    return Path("/run/systemd/timesync/synchronized").exists()


def _read_bench_id(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return ""
    return text if len(text) == 6 and all(c in "0123456789abcdef" for c in text) else ""


def load_bench_id(spool: Path) -> str:
    """This install's random id, kept in the spool; made once (link(2) never overwrites, so two
    starts racing agree on the first one written)."""
    path = spool / ".bench-id"
    found = _read_bench_id(path)
    if found:
        return found
    tmp = spool / f".bench-id.tmp{os.getpid()}"
    write_atomic(tmp, f"{secrets.token_hex(3)}\n".encode())
    try:
        os.link(tmp, path)
    except FileExistsError:
        if not _read_bench_id(path):  # there but unreadable: replace it
            log.warning("%s unreadable: a new install id is made", path)
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(spool)
    return _read_bench_id(path)


def record_id(bench: str, bench_id: str, day: str, seq: int) -> str:
    return "-".join(p for p in (bench, bench_id, day.replace("-", ""), f"{seq:06d}") if p)


class Recorder:
    def __init__(
        self,
        storage: str | Path,
        spool: str | Path,
        bench: str = "bench",
        removable: bool = True,
        image_format: str = "jpg",
        min_free_mb: int = 64,
        warn_free_mb: int = 256,
        mountinfo_path: str = "/proc/self/mountinfo",
        clock: Callable[[], datetime] | None = None,
        free_space: Callable[[Path], int] = free_bytes,
        bench_id: str | None = None,
    ) -> None:
        self.storage = Path(storage)
        self.spool = Path(spool)
        self.bench = bench
        self.removable = removable
        self.suffix = "." + image_format
        self.min_free = min_free_mb * 1024 * 1024
        self.warn_free = warn_free_mb * 1024 * 1024
        self.mountinfo_path = mountinfo_path
        self.clock = clock or (lambda: datetime.now().astimezone())
        self.free = free_space
        self._lock = threading.Lock()
        self._pace = FlushPace()  # how fast the stick took the last batch of a flush
        makedirs_durable(self.spool)
        self.bench_id = load_bench_id(self.spool) if bench_id is None else bench_id
        self._seq_path = self.spool / ".seq"
        self.repair()

    # -- where records go -------------------------------------------------------------------
    def _stick_problem(self) -> str:
        """'' when the storage path can take a record now, else why not."""
        if self.removable:
            try:
                info = Path(self.mountinfo_path).read_text()
            except OSError:
                info = ""
            m = mount_at(self.storage, info)
            if m is None:
                return "no USB stick mounted"
            if m.read_only:
                return "USB stick is read-only"
        elif not self.storage.is_dir():
            return f"storage folder {self.storage} does not exist"
        if not os.access(self.storage, os.W_OK):
            return "storage is not writable"
        try:
            if self.free(self.storage) < 4 * 1024 * 1024:
                return "USB stick is full"
        except OSError as e:
            return f"storage unreadable ({e.strerror})"
        return ""

    @contextmanager
    def _stick(self) -> Iterator[tuple[Path | None, Callable[[], bool]]]:
        """(root to write under, still-there check), or (None, ...) when the stick can't take
        records now. A removable stick's root is a held descriptor of the mounted filesystem."""
        if self._stick_problem():
            yield None, lambda: False
            return
        if not self.removable:
            yield self.storage, self.storage.is_dir
            return
        try:
            pinned = PinnedRoot(self.storage, self.mountinfo_path)
        except OSError:
            yield None, lambda: False
            return
        try:
            yield pinned.path, pinned.mounted
        finally:
            pinned.close()

    def state(self) -> StorageState:
        problem = self._stick_problem()
        n = self.spooled_count()
        if not problem:
            free = self.free(self.storage) / 2**20
            warn = "USB stick nearly full" if free * 2**20 < self.warn_free else ""
            return StorageState("stick" if self.removable else "local", "", free, n, warn)
        return StorageState("spool", problem, self.free(self.spool) / 2**20, n)

    def check_space(self) -> None:
        """Before a capture: refuse when neither the stick nor the spool has room."""
        if not self._stick_problem():
            return
        if self.free(self.spool) < self.min_free:
            raise StorageFull(
                f"SD card spool nearly full ({self.free(self.spool) / 2**20:.0f} MB free): "
                "plug in a USB stick or free space"
            )

    # -- ids --------------------------------------------------------------------------------
    def _next_seq(self, folders: Sequence[DayFolder]) -> int:
        """The counter in the spool, moved past anything this install already wrote that day
        (a lost or corrupt counter never reuses an id)."""
        try:
            seq = int(self._seq_path.read_text().strip() or 0) + 1
        except FileNotFoundError:
            seq = max_seq(folders, self.bench_id) + 1
        except (OSError, ValueError):
            log.warning("%s unreadable: the counter goes on from the day's records", self._seq_path)
            seq = max_seq(folders, self.bench_id) + 1

        def used(n: int) -> bool:
            return any(
                (
                    f.images / f"{record_id(self.bench, self.bench_id, f.day, n)}{self.suffix}"
                ).exists()
                for f in folders
            )

        while used(seq):
            seq += 1
        write_atomic(self._seq_path, f"{seq}\n".encode())
        return seq

    def first_sample(self, default: str) -> str:
        """Where the sample ids go on after a restart: after this bench's last recorded one."""
        from device.core.names import next_sample

        with self._stick() as (root, _):
            folders = DayFolder.all_in(self.spool)[-2:]
            if root is not None:
                folders += DayFolder.all_in(root)[-2:]
            last = last_sample(folders, self.bench_id)
        return next_sample(last) if last else default

    # -- writing ----------------------------------------------------------------------------
    def write(
        self,
        rgb: np.ndarray,
        counts: dict[str, int],
        detections: Sequence[Detection],
        classes: list[str],
        sample: str,
        model: str,
        model_sha256: str,
        flags: list[str],
        extra: dict | None = None,
        class_map: np.ndarray | None = None,
    ) -> Record:
        """Write one record durably; returns it. Raises OSError if nothing could take it.
        An areas record's class map goes beside its image (device/records/areas_files.py)."""
        image = encode(rgb, self.suffix)
        mask = mask_png(class_map) if class_map is not None else None
        extra = dict(extra or {})
        # The class map's names (background first): they name the mask's grey values as
        # written, and classes.csv says them in the day folder, not the record.
        names = extra.pop("mask_classes", None)
        values = {k + 1: str(n) for k, n in enumerate(names)} if isinstance(names, list) else None
        with self._lock, self._stick() as (root, _):
            now = self.clock()
            day = now.strftime("%Y-%m-%d")
            spool_day = DayFolder.of(self.spool, day)
            target = DayFolder.of(root, day) if root is not None else spool_day
            seq = self._next_seq([target, spool_day] if target is not spool_day else [spool_day])
            rec_id = record_id(self.bench, self.bench_id, day, seq)
            rec = Record(
                id=rec_id,
                time=now.isoformat(timespec="milliseconds"),
                sample=sample,
                counts={c: int(counts.get(c, 0)) for c in classes},
                model=model,
                model_sha256=model_sha256,
                image=f"images/{rec_id}{self.suffix}",
                flags=list(flags),
                seq=seq,
                bench_id=self.bench_id,
                clock_synced=clock_synchronised(),
                stored="spool" if root is None else ("stick" if self.removable else "local"),
                extra=extra,
            )
            if mask is not None:
                rec.extra["mask"] = f"masks/{rec_id}.png"
            try:
                target.append_many(
                    [Entry(rec, image, tuple(detections), mask=mask, mask_values=values)]
                )
            except OSError:
                if target is spool_day:
                    raise
                # The stick went away or filled up mid-write: the spool takes the record.
                log.warning("stick refused %s: written to the spool", rec_id, exc_info=True)
                rec.stored = "spool"
                spool_day.append_many(
                    [Entry(rec, image, tuple(detections), mask=mask, mask_values=values)]
                )
            return rec

    def void(self, rec_id: str, day: str | None = None) -> None:
        """A long hold: the record stays, its id is listed in voids.jsonl beside it (or in the
        spool's day folder when its stick is away; the flush takes it there)."""
        with self._lock, self._stick() as (root, _):
            when = self.clock().isoformat(timespec="milliseconds")
            roots = ([root] if root is not None else []) + [self.spool]
            for r in roots:
                for folder in reversed(DayFolder.all_in(r)):
                    if day and folder.day != day:
                        continue
                    if any(rec.id == rec_id for rec in folder.records(on_bad=lambda n, w: None)):
                        folder.add_void(Void(rec_id, when))
                        return
            if day and root is None:
                DayFolder.of(self.spool, day).add_void(Void(rec_id, when))
                return
            raise OSError(f"record {rec_id} not found to void")

    # -- spool ------------------------------------------------------------------------------
    def _spool_days(self) -> list[DayFolder]:
        base = self.spool / SUBDIR
        if not base.is_dir():
            return []
        return [DayFolder(p) for p in sorted(base.iterdir()) if p.is_dir() and p.name[0] != "."]

    def spooled_count(self) -> int:
        return sum(waiting(d) for d in self._spool_days())

    def needs_flush(self) -> bool:
        """Anything in the spool for the stick: records, or voids of records already there."""
        return bool(self._spool_days())

    def flush(self, budget_s: float | None = None) -> FlushReport:
        """Move spooled records to the stick, in order, each exactly once (see
        device/records/flush.py); with `budget_s`, one slice of about that long (report.more:
        call again)."""
        deadline = None if budget_s is None else time.monotonic() + budget_s
        with self._lock:
            if self.spool.resolve() == self.storage.resolve():
                return FlushReport()
            total = FlushReport(complete=False)
            try:
                with self._stick() as (root, still_there):
                    if root is not None:
                        total = self._flush_days(root, still_there, deadline)
            finally:
                if not total.more:  # done, failed, or the stick went: the next starts slow
                    self._pace = FlushPace()
            for old, new in total.renamed:
                log.warning("flush: spooled record %s is on the stick as %s", old, new)
            return total

    def _flush_days(
        self, root: Path, still_there: Callable[[], bool], deadline: float | None
    ) -> FlushReport:
        total = FlushReport()
        for src in self._spool_days():
            rep = flush_day(
                src,
                DayFolder.of(root, src.day),
                still_there,
                self.spool / "quarantine",
                deadline,
                self._pace,
            )
            total.add(rep)
            if not rep.complete:
                break
        return total

    # -- start-up ---------------------------------------------------------------------------
    def repair(self) -> list[Path]:
        """Torn last lines (power cuts), temporary files and half-removed spool days (kills)."""
        fixed: list[Path] = []
        clean_retired(self.spool / SUBDIR)
        for p in self.spool.glob(".*.tmp*"):
            p.unlink(missing_ok=True)
            fixed.append(p)
        for d in self._spool_days():
            fixed += d.repair()
            if repair_torn_tail(d.path / PROGRESS, json_object_line):
                fixed.append(d.path / PROGRESS)
        with self._stick() as (root, _):
            if root is not None:
                base = root / SUBDIR
                days = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
                for d in days[-7:]:  # a kill leaves temporaries only where it was writing
                    try:
                        fixed += DayFolder(d).repair()
                    except (OSError, ValueError, RecursionError) as e:
                        # a stick's folder the bench cannot repair must not stop the bench
                        log.warning("%s: not repaired (%s)", d, e)
        return fixed
