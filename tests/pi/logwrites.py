"""dm-log-writes logs, read and replayed here (Debian packages no replay tool).

The format, from the kernel's drivers/md/dm-log-writes.c and
Documentation/admin-guide/device-mapper/log-writes.rst: at byte 0 a super block (magic, version,
number of entries, sector size; little-endian), then from the second block one entry after
another, each a block holding a header (sector, nr_sectors, flags, data_len) followed for a
write by its nr_sectors blocks of data; a mark holds its text in the header's block after the
header, a discard and a flush hold no data. Sectors are the device's logical blocks (512 bytes
on virtio-blk). A write is logged once it has completed and, unless it was FUA, only when the
flush after it completes (the target keeps completed writes back until then): so everything
before a flush entry was on stable storage when the flush returned, and the writes between two
flushes may have reached the medium in any order, or not at all, when power goes.

A crash state is the device as a cut could leave it: every write up to a flush, then any subset
of the writes that followed it (in log order, whole writes: no torn sectors). A mark is where
the bench had acknowledged something: every state after a mark must still hold it.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

MAGIC = 0x6A736677736872
FLUSH, FUA, DISCARD, MARK, METADATA = 1, 2, 4, 8, 16
_SUPER = struct.Struct("<QQQI")
_ENTRY = struct.Struct("<QQQQ")


class LogError(ValueError):
    """A log this reader cannot trust (wrong magic, truncated): never replayed."""


@dataclass(frozen=True)
class Entry:
    index: int  # position in the log, from 0
    sector: int  # first logical block written on the device
    nr_sectors: int
    flags: int
    data_offset: int  # where the data starts in the log file (writes only)
    mark: str = ""

    @property
    def is_write(self) -> bool:
        return not self.flags & (MARK | DISCARD) and self.nr_sectors > 0

    @property
    def is_barrier(self) -> bool:
        """A flush or FUA: what came before it was on stable storage when it completed."""
        return bool(self.flags & (FLUSH | FUA))


@dataclass(frozen=True)
class Log:
    path: Path
    sector_size: int
    entries: tuple[Entry, ...]

    def marks(self) -> list[Entry]:
        return [e for e in self.entries if e.flags & MARK]


def read_log(path: Path) -> Log:
    """Every entry the super block counts; LogError where the log is not one or is cut short."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(_SUPER.size)
        if len(head) < _SUPER.size:
            raise LogError(f"{path}: no dm-log-writes super block")
        magic, version, count, sector = _SUPER.unpack(head)
        if magic != MAGIC or version != 1 or sector not in (512, 1024, 2048, 4096):
            raise LogError(f"{path}: not a dm-log-writes log (magic {magic:#x}, v{version})")
        entries = []
        pos = sector
        for i in range(count):
            f.seek(pos)
            block = f.read(sector)
            if len(block) < sector:
                raise LogError(f"{path}: entry {i} of {count} cut short at byte {pos}")
            first, n, flags, data_len = _ENTRY.unpack_from(block)
            if data_len > sector - _ENTRY.size:
                raise LogError(f"{path}: entry {i}: mark of {data_len} bytes")
            text = block[_ENTRY.size : _ENTRY.size + data_len].decode(errors="replace")
            entries.append(Entry(i, first, n, flags, pos + sector, text if flags & MARK else ""))
            pos += sector
            if not flags & (DISCARD | MARK):
                pos += n * sector
            if pos > size:
                raise LogError(f"{path}: entry {i}'s data runs past the end of the log")
    return Log(path, sector, tuple(entries))


@dataclass(frozen=True)
class CrashState:
    """The device as a cut would leave it: `applied` writes in log order over the base image;
    every write up to the barrier at entry `durable` is among them (-1: no barrier yet); marks
    before entry `after` were made before the cut."""

    name: str  # "flush at entry 12", "prefix to entry 40", "subset 3 after entry 7"
    applied: tuple[int, ...]  # entry indexes of the writes (and discards) that reached the medium
    after: int
    durable: int = -1

    def acknowledged(self, log: Log) -> list[str]:
        """The marks this state must honour: those made before the cut, and those whose last
        barrier before them it holds whole. An acknowledgement comes after the flush that made
        its record durable, so the record must be in every state that holds that flush, not
        only in those after the (later) mark: the time from acknowledgement to mark is no gap."""
        out, barrier = [], -1
        for e in log.entries:
            if e.flags & MARK and (
                e.index < self.after or (barrier >= 0 and self.durable >= barrier)
            ):
                out.append(e.mark)
            if e.is_barrier:
                barrier = e.index
        return out


def epochs(log: Log) -> list[tuple[int, int]]:
    """[start, end) entry ranges between barriers: each ends with its flush/FUA (included)."""
    out, start = [], 0
    for e in log.entries:
        if e.is_barrier:
            out.append((start, e.index + 1))
            start = e.index + 1
    if start < len(log.entries):
        out.append((start, len(log.entries)))
    return out


def _changes(log: Log, lo: int, hi: int) -> list[int]:
    return [e.index for e in log.entries[lo:hi] if e.is_write or e.flags & DISCARD]


def crash_states(log: Log, seed: int, subsets: int = 3, prefixes: int = 2) -> Iterator[CrashState]:
    """Every barrier; in each epoch `prefixes` in-order prefixes (seeded) and `subsets` seeded
    subsets of its writes. The marks an epoch's state must honour are all marks before its end:
    a cut can come after the last mark of an epoch with any of its unflushed writes lost."""
    rng = random.Random(seed)
    done: list[int] = []
    last = -1  # the last barrier whose writes are all in `done`
    for lo, hi in epochs(log):
        here = _changes(log, lo, hi)
        closed = log.entries[hi - 1].is_barrier
        if here:
            cuts = sorted(rng.sample(range(len(here)), min(prefixes, len(here))))
            for k in cuts:
                # the in-order prefix stops before the k-th write: the marks before it count
                name = f"prefix to entry {here[k]}"
                yield CrashState(name, tuple(done + here[:k]), here[k], last)
            for s in range(subsets if len(here) > 1 else 0):
                pick = [i for i in here if rng.random() < 0.5]
                yield CrashState(f"subset {s} after entry {lo}", tuple(done + pick), hi, last)
        if closed:
            yield CrashState(f"flush at entry {hi - 1}", tuple(done + here), hi, hi - 1)
        else:  # the log's tail: what a cut after the last write could leave, all of it too
            yield CrashState("end of the log", tuple(done + here), hi, last)
        done += here
        if closed:
            last = hi - 1


def _apply(log: Log, dst: Path, indexes: list[int] | tuple[int, ...]) -> None:
    size = dst.stat().st_size
    with open(log.path, "rb") as src, open(dst, "r+b") as out:
        for i in indexes:
            e = log.entries[i]
            start, length = e.sector * log.sector_size, e.nr_sectors * log.sector_size
            if start + length > size:
                raise LogError(f"{log.path}: entry {i} writes past the device's end")
            if e.flags & DISCARD:
                os.pwrite(out.fileno(), bytes(length), start)
                continue
            src.seek(e.data_offset)
            chunk = src.read(length)
            if len(chunk) != length:
                raise LogError(f"{log.path}: entry {i}'s data is cut short")
            os.pwrite(out.fileno(), chunk, start)


def replay(log: Log, base: Path, state: CrashState, out: Path) -> None:
    """Write `out` as `base` with the state's writes applied in log order (discards as zeros)."""
    shutil.copyfile(base, out)
    _apply(log, out, state.applied)


class Replayer:
    """replay() for states in the order crash_states gives them, without applying the same
    flushed writes again for every state: a checkpoint image moves forward to each state's last
    barrier, and only the writes after it are applied to the copy."""

    def __init__(self, log: Log, base: Path, work: Path) -> None:
        self.log = log
        self.checkpoint = work / "checkpoint.img"
        shutil.copyfile(base, self.checkpoint)
        self.at = -1  # every change entry up to this index is in the checkpoint

    def build(self, state: CrashState, out: Path) -> None:
        if state.durable < self.at:
            raise ValueError("states must come in log order")
        if state.durable > self.at:
            ahead = [i for i in state.applied if self.at < i <= state.durable]
            _apply(self.log, self.checkpoint, ahead)
            self.at = state.durable
        shutil.copyfile(self.checkpoint, out)
        _apply(self.log, out, [i for i in state.applied if i > self.at])
