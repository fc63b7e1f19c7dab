"""The only writer of records: day folders on the USB stick, or a spool on the SD card.

Layout (the same on the stick and in the spool), so that every day folder is a training folder:
  <root>/scopecount/<YYYY-MM-DD>/records.jsonl  one JSON object per record (the commit point)
                                 counts.csv     one row per record, one column per class
                                 points.csv     image,x,y,label: the predicted points
                                 images/<id>.jpg
                                 voids.jsonl    ids voided by a long hold
A removable storage path is written only while a filesystem is really mounted there.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from device.durable import append_line, fsync_dir, makedirs_durable, repair_torn_tail
from device.imageio import encode, write_atomic
from device.mounts import free_bytes, mount_at

SUBDIR = "scopecount"


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


def _csv_line(values: list) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(values)
    return buf.getvalue()


def clock_synchronised() -> bool:
    """systemd-timesyncd marks a synchronised clock with this file (a Pi has no RTC)."""
    return Path("/run/systemd/timesync/synchronized").exists()


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
        makedirs_durable(self.spool)
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

    def state(self) -> StorageState:
        problem = self._stick_problem()
        waiting = self.spooled_count()
        if not problem:
            free = self.free(self.storage) / 2**20
            warn = "USB stick nearly full" if free * 2**20 < self.warn_free else ""
            where = "stick" if self.removable else "local"
            return StorageState(where, "", free, waiting, warn)
        return StorageState("spool", problem, self.free(self.spool) / 2**20, waiting)

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
    def _next_seq(self) -> int:
        try:
            seq = int(self._seq_path.read_text().strip() or 0) + 1
        except (OSError, ValueError):
            seq = 1
        write_atomic(self._seq_path, f"{seq}\n".encode())
        return seq

    # -- writing ----------------------------------------------------------------------------
    def write(
        self,
        rgb: np.ndarray,
        counts: dict[str, int],
        points: list[tuple[float, float, str]],
        classes: list[str],
        sample: str,
        model: str,
        model_sha256: str,
        flags: list[str],
        extra: dict | None = None,
    ) -> dict:
        """Write one record durably; returns it. Raises OSError if nothing could take it."""
        with self._lock:
            now = self.clock()
            seq = self._next_seq()
            rec_id = f"{self.bench}-{now:%Y%m%d}-{seq:06d}"
            problem = self._stick_problem()
            root = self.storage if not problem else self.spool
            stored = ("stick" if self.removable else "local") if not problem else "spool"
            record = {
                "id": rec_id,
                "seq": seq,
                "time": now.isoformat(timespec="milliseconds"),
                "clock_synced": clock_synchronised(),
                "sample": sample,
                "counts": {c: int(counts.get(c, 0)) for c in classes},
                "model": model,
                "model_sha256": model_sha256,
                "image": f"images/{rec_id}{self.suffix}",
                "flags": list(flags),
                "stored": stored,
            } | (extra or {})
            image_bytes = encode(rgb, self.suffix)
            try:
                self._write_day(root, now.strftime("%Y-%m-%d"), record, image_bytes, points)
            except OSError:
                if root == self.spool:
                    raise
                # The stick went away or filled up mid-write: the spool takes the record.
                record["stored"] = "spool"
                self._write_day(self.spool, now.strftime("%Y-%m-%d"), record, image_bytes, points)
            return record

    def _write_day(
        self,
        root: Path,
        day: str,
        record: dict,
        image: bytes | None,
        points: list,
        skip_points: bool = False,
        skip_counts: bool = False,
    ) -> None:
        """Image, points and counts rows, then the record line: the line is the commit point.
        A flush that crashed after writing some of a record's rows skips those (skip_*)."""
        folder = root / SUBDIR / day
        makedirs_durable(folder / "images")
        name = Path(record["image"]).name
        if image is not None:
            write_atomic(folder / "images" / name, image)
        rows = "".join(_csv_line([name, f"{x:.1f}", f"{y:.1f}", c]) for x, y, c in points)
        if skip_points:
            rows = ""
        if rows:
            append_line(folder / "points.csv", rows, header="image,x,y,label")
        elif not (folder / "points.csv").exists():
            append_line(folder / "points.csv", "image,x,y,label")
        classes = list(record["counts"])
        counts_path = self._counts_path(folder, classes)
        if not skip_counts:
            append_line(
                counts_path,
                _csv_line(
                    [record["id"], record["time"], record["sample"], record["model"]]
                    + [record["counts"][c] for c in classes]
                    + [" ".join(record["flags"])]
                ),
                header=_csv_line(["id", "time", "sample", "model", *classes, "flags"]),
            )
        append_line(folder / "records.jsonl", json.dumps(record, separators=(",", ":")))

    @staticmethod
    def _counts_path(folder: Path, classes: list[str]) -> Path:
        """counts.csv, or counts-<classes>.csv when a model with other classes wrote first."""
        path = folder / "counts.csv"
        header = _csv_line(["id", "time", "sample", "model", *classes, "flags"]).strip()
        if path.exists():
            with open(path, encoding="utf-8") as f:
                if f.readline().strip() != header:
                    return folder / f"counts-{'-'.join(classes)}.csv"
        return path

    def void(self, rec_id: str) -> None:
        """A long hold: the record stays, its id is listed in voids.jsonl beside it."""
        with self._lock:
            for root in (self.storage, self.spool):
                for rec_path in sorted((root / SUBDIR).glob("*/records.jsonl"), reverse=True):
                    if f'"id":"{rec_id}"' in rec_path.read_text(encoding="utf-8"):
                        when = self.clock().isoformat(timespec="milliseconds")
                        line = json.dumps({"id": rec_id, "time": when})
                        append_line(rec_path.parent / "voids.jsonl", line)
                        return
            raise OSError(f"record {rec_id} not found to void")

    # -- spool ------------------------------------------------------------------------------
    def spooled_count(self) -> int:
        n = 0
        for p in (self.spool / SUBDIR).glob("*/records.jsonl"):
            with open(p, "rb") as f:
                n += sum(1 for _ in f)
        return n

    def flush(self) -> int:
        """Move spooled records to the stick, in order, exactly once. Returns how many moved."""
        with self._lock:
            if self._stick_problem() or self.spool.resolve() == self.storage.resolve():
                return 0
            moved = 0
            for day_dir in sorted((self.spool / SUBDIR).glob("*")):
                moved += self._flush_day(day_dir)
            return moved

    def _flush_day(self, day_dir: Path) -> int:
        rec_path = day_dir / "records.jsonl"
        if not rec_path.exists():
            return 0
        dest = self.storage / SUBDIR / day_dir.name
        makedirs_durable(dest / "images")
        have = set()
        if (dest / "records.jsonl").exists():
            for line in (dest / "records.jsonl").read_text(encoding="utf-8").splitlines():
                try:
                    have.add(json.loads(line)["id"])
                except (ValueError, KeyError):
                    continue
        points = _rows_by_image(day_dir / "points.csv")
        # Rows a crashed flush already wrote: counts rows start with the record id, points
        # rows with the image name.
        counts_done = {
            line.split(",", 1)[0]
            for p in dest.glob("counts*.csv")
            for line in p.read_text(encoding="utf-8").splitlines()[1:]
        }
        points_done = set(_rows_by_image(dest / "points.csv"))
        moved = 0
        for line in rec_path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec["id"] in have:
                continue  # flushed before a crash: never twice
            img = day_dir / rec["image"]
            rec["stored"] = "stick"
            rec["flushed_from_spool"] = True
            pts = [(float(x), float(y), c) for x, y, c in points.get(Path(rec["image"]).name, [])]
            image = img.read_bytes() if img.exists() else None
            self._write_day(
                self.storage,
                day_dir.name,
                rec,
                image,
                pts,
                skip_points=Path(rec["image"]).name in points_done,
                skip_counts=rec["id"] in counts_done,
            )
            moved += 1
        for extra in ("voids.jsonl",):
            if (day_dir / extra).exists():
                for line in (day_dir / extra).read_text().splitlines():
                    append_line(dest / extra, line)
        # Only now that every record is durable on the stick does the spool let go.
        shutil.rmtree(day_dir)
        fsync_dir(day_dir.parent)
        return moved

    # -- start-up ---------------------------------------------------------------------------
    def repair(self) -> list[Path]:
        """Cut torn last lines left by a power cut (a killed process leaves none)."""
        fixed = []
        roots = [self.spool] + ([self.storage] if not self._stick_problem() else [])
        for root in roots:
            for p in (root / SUBDIR).glob("*/*.jsonl"):
                if repair_torn_tail(p):
                    fixed.append(p)
            for p in (root / SUBDIR).glob("*/*.csv"):
                if repair_torn_tail(p):
                    fixed.append(p)
        return fixed


def _rows_by_image(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    out: dict[str, list[tuple[str, str, str]]] = {}
    if not path.exists():
        return out
    with open(path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f)
        next(rd, None)
        for row in rd:
            if len(row) == 4:
                out.setdefault(row[0], []).append((row[1], row[2], row[3]))
    return out
