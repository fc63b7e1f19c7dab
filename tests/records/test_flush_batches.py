"""The flush in batches: its pace, what a batch costs in fsyncs, and a kill at any file
operation inside a batch leaving every record on the stick exactly once, with its image."""

import os
import shutil
from pathlib import Path

import pytest

import device.core.durable as durable
from device.records.dayfolder import DayFolder
from device.records.flush import MAX_BATCH, FlushPace, clean_retired, flush_day
from device.records.recorder import Recorder
from tests.records.test_records import records_on, write


# -- the pace (pure) -------------------------------------------------------------------------
def test_a_flush_starts_with_one_record_and_at_most_doubles():
    pace = FlushPace()
    assert pace.batch(slice_s=2.0) == 1
    sizes = []
    for _ in range(8):
        n = pace.batch(slice_s=100.0)
        sizes.append(n)
        pace.measured(n, 0.01 * n)
    assert sizes == [1, 2, 4, 8, 16, 32, 64, 64]


def test_batches_grow_while_a_fixed_cost_dominates_and_shrink_when_over_a_slice():
    """A cheap FAT stick: about a second of table and folder writes per batch, whatever its
    size, plus a little per record. Batches grow until one takes half the slice."""
    pace, sizes = FlushPace(), []
    for _ in range(8):
        n = pace.batch(slice_s=2.0)
        sizes.append(n)
        pace.measured(n, 0.6 + 0.03 * n)
    assert sizes == [1, 2, 4, 8, 16, 16, 16, 16]  # 16 take 1.08 s: over half the slice
    pace.measured(16, 2.5)  # the stick slowed down
    assert pace.batch(slice_s=2.0) == 8
    assert pace.fits(2.5) and not pace.fits(2.4)


def test_a_whole_flush_goes_in_the_largest_batches():
    assert FlushPace().batch(slice_s=None) == MAX_BATCH


# -- batches on disk -------------------------------------------------------------------------
def spool_of(tmp: Path, n: int) -> tuple[Path, Path]:
    (tmp / "stick").mkdir(parents=True)
    rec = Recorder(tmp / "nostick", tmp / "spool", "bench1", removable=False)
    for i in range(n):
        write(rec, i)
    return tmp / "spool", tmp / "stick"


def flush(spool: Path, stick: Path) -> None:
    for d in sorted((spool / "scopecount").glob("[0-9]*")):
        flush_day(DayFolder(d), DayFolder.of(stick, d.name), lambda: True, spool / "q")


class Counting:
    """os, as durable.py sees it, counting fsyncs and killing the flush at the k-th write,
    fsync or rename."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.calls = self.fsyncs = 0
        self.kill_at = kill_at

    def __getattr__(self, name: str):
        return getattr(os, name)

    def _step(self) -> None:
        self.calls += 1
        if self.kill_at is not None and self.calls > self.kill_at:
            raise Killed

    def write(self, fd, data):
        self._step()
        return os.write(fd, data)

    def fsync(self, fd):
        self._step()
        self.fsyncs += 1
        return os.fsync(fd)

    def replace(self, a, b):
        self._step()
        return os.replace(a, b)


class Killed(Exception):
    pass


def test_a_batch_costs_a_few_fsyncs_not_five_a_record(tmp_path, monkeypatch):
    spool, stick = spool_of(tmp_path, 40)
    counting = Counting()
    monkeypatch.setattr(durable, "os", counting)
    flush(spool, stick)
    assert len(records_on(stick)) == 40
    # One record at a time took 5 fsyncs a record (image, its folder, points, counts, line)
    # plus its mark in the spool: 240 here. A batch of 40: its rows, lines and marks once each.
    assert counting.fsyncs <= 20, counting.fsyncs


def test_a_kill_at_any_step_of_a_batch_leaves_each_record_once_with_its_image(
    tmp_path, monkeypatch
):
    template = tmp_path / "template"
    spool_of(template, 6)
    probe = Counting()
    spool, stick = spool_of(tmp_path / "probe", 6)
    monkeypatch.setattr(durable, "os", probe)
    flush(spool, stick)
    steps = probe.calls
    assert steps > 10
    for k in range(steps):
        work = tmp_path / f"k{k}"
        shutil.copytree(template, work)
        monkeypatch.setattr(durable, "os", Counting(kill_at=k))
        with pytest.raises(Killed):
            flush(work / "spool", work / "stick")
        monkeypatch.setattr(durable, "os", os)
        clean_retired(work / "spool" / "scopecount")  # what the bench does at its next start
        for day in DayFolder.all_in(work / "stick"):
            day.repair()
        flush(work / "spool", work / "stick")
        on_stick = records_on(work / "stick")
        assert sorted(r.sample for r in on_stick) == [f"s{i}" for i in range(6)], k
        day = DayFolder.all_in(work / "stick")[0]
        assert all((day.images / r.image_name).is_file() for r in on_stick), k
        counts = day.counts_path.read_text().splitlines()[1:]
        assert sorted(c.split(",")[0] for c in counts) == sorted(r.id for r in on_stick), k
        assert not (work / "spool" / "scopecount").exists() or not any(
            (work / "spool" / "scopecount").iterdir()
        ), k


def test_a_torn_line_left_by_a_pull_does_not_swallow_the_next_batch(tmp_path):
    """A stick pulled during an append and plugged back into the running bench ends in half a
    line; the next batch must not be appended onto it (its first record would be unreadable
    and its spool copy gone)."""
    import time

    spool, stick = spool_of(tmp_path, 3)
    day = next((spool / "scopecount").glob("[0-9]*"))
    dest = DayFolder.of(stick, day.name)
    flush_day(DayFolder(day), dest, lambda: True, spool / "q", deadline=time.monotonic() - 1)
    with open(dest.records_path, "ab") as f:
        f.write(b'{"id":"bench1-')
    flush_day(DayFolder(day), dest, lambda: True, spool / "q")
    bad: list[int] = []
    on_stick = dest.records(on_bad=lambda n, why: bad.append(n))
    assert bad == [] and sorted(r.sample for r in on_stick) == ["s0", "s1", "s2"]


def test_big_images_make_smaller_batches(tmp_path, monkeypatch):
    import device.records.flush as flush_mod

    spool, stick = spool_of(tmp_path, 10)
    batches: list[list[int]] = []
    real = DayFolder.append_many

    def counting(self, entries):
        batches.append([len(e.image or b"") for e in entries])
        return real(self, entries)

    monkeypatch.setattr(DayFolder, "append_many", counting)
    one = next((spool / "scopecount").glob("*/images/*")).stat().st_size
    monkeypatch.setattr(flush_mod, "BATCH_BYTES", 3 * one)
    flush(spool, stick)
    assert len(records_on(stick)) == 10
    assert sum(map(len, batches)) == 10 and len(batches) >= 3
    assert all(sum(b[:-1]) < 3 * one for b in batches)  # the last image is the one over


def test_a_flush_that_fails_starts_the_next_stick_slow(tmp_path, monkeypatch):
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "bench1", removable=False)
    (tmp_path / "stick").mkdir()
    rec._pace.measured(32, 0.032)  # a fast stick's last batch

    def dying(self, entries):
        raise OSError(5, "Input/output error")

    spooled = Recorder(tmp_path / "nostick", tmp_path / "spool", "bench1", removable=False)
    write(spooled, 1)
    monkeypatch.setattr(DayFolder, "append_many", dying)
    with pytest.raises(OSError):
        rec.flush(budget_s=2.0)
    assert rec._pace.batch(slice_s=2.0) == 1


def test_a_cut_between_counts_rows_and_record_lines_is_repaired_at_start(tmp_path):
    """Counts rows are appended before the record lines (the commit point): a power cut between
    them leaves rows for a record that does not exist until counts.csv is regenerated."""
    spool, _ = spool_of(tmp_path, 2)
    day = DayFolder.all_in(spool)[0]
    good = day.counts_path.read_bytes()
    rec = day.records()[-1]
    with open(day.counts_path, "ab") as f:  # a third record's rows, never committed
        f.write(DayFolder._count_rows(rec, False).replace(rec.id, rec.id + "x").encode())
    assert day.counts_path.read_bytes() != good
    assert day.counts_path in day.repair()
    assert day.counts_path.read_bytes() == good
    assert day.repair() == []  # consistent now: nothing to do


def test_counts_are_never_regenerated_from_records_that_cannot_be_read_whole(tmp_path):
    spool, _ = spool_of(tmp_path, 2)
    day = DayFolder.all_in(spool)[0]
    rows = day.counts_path.read_bytes() + b"extra,t,s,m,egg,3,,\n"
    day.counts_path.write_bytes(rows)
    lines = day.records_path.read_bytes().splitlines(keepends=True)
    day.records_path.write_bytes(lines[0] + b"damaged in the middle\n" + lines[1])
    assert day.counts_path not in day.repair()
    assert day.counts_path.read_bytes() == rows  # its rows may be the only copy left
    day.records_path.unlink()
    assert day.counts_path not in day.repair()
    assert day.counts_path.read_bytes() == rows


def test_a_cut_after_the_first_counts_rows_of_a_day_is_repaired_too(tmp_path):
    """records.jsonl is made (empty, synced) before a new day's first counts rows: a cut
    between them leaves an empty records.jsonl, and the phantom rows go at the next start."""
    spool, _ = spool_of(tmp_path, 1)
    day = DayFolder.all_in(spool)[0]
    good = day.counts_path.read_bytes()
    day.records_path.write_bytes(b"")  # as a cut after the counts rows leaves the first day
    assert day.counts_path in day.repair()
    assert day.counts_path.read_bytes() == good.splitlines(keepends=True)[0]  # header only
