"""The day folder, ids, names, the flush cut anywhere, voids and the summary (no root needed)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from device.bench.locks import Busy, LockFile
from device.core.csvsafe import csv_line, neutralise
from device.core.errors import BadInput
from device.core.names import check_bench_name, check_sample, clean_sample, next_sample
from device.records.dayfolder import DayFolder, Detection, Record, Void
from device.records.flush import flush_day
from device.records.recorder import Recorder
from tests.support.benchfakes import make_rig

DAY = "2026-05-04"


def write(rec: Recorder, i: int, classes=("egg",), sample=None, flags=()) -> Record:
    rgb = np.full((16, 16, 3), (i * 37) % 255, np.uint8)
    dets = [Detection(1.0 + i + k, 2.0, classes[0]) for k in range(i % 3)]
    counts = {c: i + k for k, c in enumerate(classes)}
    return rec.write(
        rgb, counts, dets, list(classes), sample or f"s{i}", "m", "0" * 64, list(flags)
    )


def local(tmp: Path, name: str = "b1", storage: str = "stick", spool: str = "spool", **kw):
    (tmp / storage).mkdir(exist_ok=True)
    return Recorder(tmp / storage, tmp / spool, name, removable=False, **kw)


def records_on(root: Path) -> list[Record]:
    return [r for d in DayFolder.all_in(root) for r in d.records()]


# -- pure functions ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, safe",
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1)", "'+SUM(A1)"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("vial-7", "vial-7"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(raw, safe):
    assert neutralise(raw) == safe


def test_csv_line_neutralises_text_but_not_numbers():
    assert csv_line(["=HYPERLINK(x)", -3, 1.5, "egg"]) == "'=HYPERLINK(x),-3,1.5,egg\n"


@pytest.mark.parametrize(
    "bad, why",
    [
        ("", "empty"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("vial\n12", "control character"),
        ("vial\x1b[31m", "control character"),
        ("vial\u202eevil", "control character"),
        ("x" * 65, "at most 64"),
    ],
)
def test_bad_sample_ids_are_refused_naming_the_source(bad, why):
    with pytest.raises(BadInput, match=why) as e:
        check_sample(bad, "QR")
    assert str(e.value).startswith("QR: sample id")


@pytest.mark.parametrize("bad", ["", "a/b", "../x", ".hidden", "bench 1", "b\n", "x" * 33])
def test_bad_bench_names(bad):
    with pytest.raises(BadInput, match="bench name"):
        check_bench_name(bad, "config.toml: [bench] name")


def test_clean_sample_keeps_a_qr_record():
    assert clean_sample("VIAL\n42/a") == "VIAL_42_a"
    assert clean_sample("\x00\x01") == "__"
    assert len(clean_sample("y" * 500)) == 64


@pytest.mark.parametrize(
    "before, after",
    [("vial-009", "vial-010"), ("plate", "plate-2"), ("a-099", "a-100"), ("s9", "s10")],
)
def test_next_sample(before, after):
    assert next_sample(before) == after


def test_next_sample_with_thousands_of_trailing_digits():
    nxt = next_sample("v" + "9" * 4300)
    assert len(nxt) <= 64 and nxt.endswith("000000000000000000")
    assert next_sample("1" * 30).endswith("111112")


def test_record_line_round_trip_and_a_line_without_id():
    r = Record("b-1", "t", "=x", {"egg": 2}, "m", "0" * 64, "images/b-1.jpg", [], 1, "ab12cd")
    r.extra["quality"] = {"std": 3.0}
    assert Record.from_json(r.to_json()) == r
    with pytest.raises(ValueError, match="'id'"):
        Record.from_json('{"time": "t", "sample": "s"}')


# -- the day folder --------------------------------------------------------------------------
def test_one_counts_csv_for_any_class_set_and_no_class_in_file_names(tmp_path):
    rec = local(tmp_path)
    write(rec, 1, ("egg",))
    long = tuple(f"class-{k}-" + "x" * 30 for k in range(12))
    write(rec, 2, long)
    write(rec, 3, ("=cmd()", "+x"))
    day = DayFolder.all_in(tmp_path / "stick")[0]
    names = sorted(p.name for p in day.path.iterdir())
    assert names == ["counts.csv", "images", "points.csv", "records.jsonl"]
    rows = day.counts_path.read_text().splitlines()
    assert rows[0] == "id,time,sample,model,class,count,flags,voided"
    assert len(rows) == 1 + 1 + 12 + 2
    assert any(",'=cmd(),3," in r for r in rows) and any(",'+x,4," in r for r in rows)
    # records.jsonl keeps the raw class names
    assert list(day.records()[2].counts) == ["=cmd()", "+x"]


def test_void_marks_counts_csv_and_never_rewrites_records(tmp_path):
    rec = local(tmp_path)
    ids = [write(rec, i).id for i in range(3)]
    day = DayFolder.all_in(tmp_path / "stick")[0]
    before = day.records_path.read_bytes()
    rec.void(ids[1])
    rec.void(ids[1])  # a second hold on the same record lists it once
    assert day.records_path.read_bytes() == before
    assert [v.id for v in day.voids()] == [ids[1]]
    rows = [r.split(",") for r in day.counts_path.read_text().splitlines()[1:]]
    assert [(r[0], r[-1]) for r in rows] == [(ids[0], ""), (ids[1], "yes"), (ids[2], "")]


def test_temporary_files_left_by_a_kill_are_removed_at_start(tmp_path):
    rec = local(tmp_path)
    write(rec, 1)
    day = DayFolder.all_in(tmp_path / "stick")[0]
    junk = [day.images / ".x.jpg.tmp999", day.path / ".counts.csv.tmp999"]
    junk.append(tmp_path / "spool" / ".seq.tmp999")
    for p in junk:
        p.write_bytes(b"half")
    local(tmp_path)
    assert [p for p in junk if p.exists()] == []


# -- ids -------------------------------------------------------------------------------------
def test_two_installs_with_one_name_never_share_ids(tmp_path):
    a = local(tmp_path, "bench1", spool="spoolA")
    b = local(tmp_path, "bench1", spool="spoolB")
    assert a.bench_id != b.bench_id and len(a.bench_id) == 6
    ids = [write(a, 1).id, write(b, 1).id]
    assert len(set(ids)) == 2
    assert local(tmp_path, "bench1", spool="spoolA").bench_id == a.bench_id  # kept


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_a_lost_counter_never_reuses_an_id(tmp_path, damage):
    rec = local(tmp_path)
    first = [write(rec, i).id for i in range(3)]
    seq = tmp_path / "spool" / ".seq"
    seq.unlink() if damage == "delete" else seq.write_text("x\x00")
    again = local(tmp_path)
    later = [write(again, i).id for i in range(3)]
    assert not set(first) & set(later)
    assert len(records_on(tmp_path / "stick")) == 6


# -- the flush -------------------------------------------------------------------------------
def spool_and_stick(tmp: Path) -> tuple[Path, Path, list[Record]]:
    """A spool day with 5 records (one voided), one unreadable line, and a stick that already
    holds a different record under the first spooled id."""
    (tmp / "stick").mkdir()
    spooled = Recorder(tmp / "nostick", tmp / "spool", "bench1", removable=False, bench_id="")
    recs = [write(spooled, i) for i in range(5)]
    day = DayFolder.all_in(tmp / "spool")[0]
    spooled.void(recs[3].id)
    with open(day.records_path, "a") as f:
        f.write('{"time": "2026", "sample": "no id"}\n')
    other = Recorder(tmp / "stick", tmp / "other", "bench1", removable=False, bench_id="")
    assert write(other, 9).id == recs[0].id  # same name, no install id: the old clash
    return tmp / "spool", tmp / "stick", recs


class Cut(Exception):
    pass


def cut_after(k: int, how: str):
    calls = [0]

    def still_mounted() -> bool:
        calls[0] += 1
        if calls[0] <= k:
            return True
        if how == "kill":
            raise Cut
        return False

    return still_mounted


def flush_all(spool: Path, stick: Path, still=lambda: True):
    from device.records.flush import FlushReport

    total = FlushReport()
    for d in sorted((spool / "scopecount").glob("[0-9]*")):
        total.add(flush_day(DayFolder(d), DayFolder.of(stick, d.name), still, spool / "q"))
    return total


def test_a_flush_cut_anywhere_keeps_every_record_exactly_once(tmp_path):
    template = tmp_path / "template"
    template.mkdir()
    spool0, stick0, recs = spool_and_stick(template)
    cases = 0
    for how in ("unplug", "kill"):
        for k in range(0, 16):
            work = tmp_path / f"{how}{k}"
            shutil.copytree(template, work, symlinks=True)
            spool, stick = work / "spool", work / "stick"
            try:
                flush_all(spool, stick, cut_after(k, how))
            except Cut:
                pass
            rep = flush_all(spool, stick)
            assert rep.complete
            on_stick = records_on(stick)
            keys = [r.content_key() for r in on_stick]
            assert len(keys) == len(set(keys)) == 6, (how, k)
            assert {r.content_key() for r in recs} <= set(keys)
            assert len({r.id for r in on_stick}) == 6
            moved = {r.content_key(): r for r in on_stick}
            renamed = moved[recs[0].content_key()]
            assert renamed.id == recs[0].id + "-2"
            assert renamed.extra["renamed_from"] == recs[0].id
            day = DayFolder.all_in(stick)[0]
            assert (day.images / renamed.image_name).exists()
            assert [v.id for v in day.voids()] == [recs[3].id]
            assert list((spool / "scopecount").iterdir()) == []
            assert len((spool / "q" / f"{day.day}.jsonl").read_text().splitlines()) == 1
            counts = day.counts_path.read_text().splitlines()
            assert len(counts) == 7 and sum(c.endswith(",yes") for c in counts) == 1
            points = day.points_path.read_text().splitlines()[1:]
            assert len(points) == len(set(points))
            cases += 1
    assert cases == 32


def test_a_corrupt_spool_line_does_not_stop_the_bench(tmp_path):
    rig = make_rig(tmp_path)
    try:
        day = tmp_path / "spool" / "scopecount" / DAY
        day.mkdir(parents=True)
        (day / "records.jsonl").write_text('{"sample": "no id"}\nnot json\n')
        (ev,) = rig.events.wait("flushed")
        assert ev.data["quarantined"] == 2
        rig.click()
        (rec,) = rig.events.wait("recorded")
        assert [r["id"] for r in rig.records()] == [rec.data["id"]]
        assert not day.exists()
        quarantined = (tmp_path / "spool" / "quarantine" / f"{DAY}.jsonl").read_text()
        assert quarantined.splitlines() == ['{"sample": "no id"}', "not json"]
    finally:
        rig.close()


# -- restarts and the summary ----------------------------------------------------------------
def test_sample_ids_go_on_after_a_restart(tmp_path):
    rec = local(tmp_path)
    assert rec.first_sample("sample-001") == "sample-001"
    write(rec, 1, sample="vial-009")
    write(rec, 2, sample="QR-7")
    rec.write(
        np.zeros((8, 8, 3), np.uint8),
        {},
        [],
        ["egg"],
        "PLATE",
        "m",
        "0",
        [],
        extra={"sample_source": "qr"},
    )
    assert local(tmp_path).first_sample("sample-001") == "QR-8"
    other = local(tmp_path, spool="spool2")  # another install on the same storage
    assert other.first_sample("sample-001") == "sample-001"


def test_summary_leaves_out_voided_and_uncountable_records(tmp_path):
    from device.records.summary import read_rows, summarise

    rec = local(tmp_path)
    a = write(rec, 10, sample="v1")
    write(rec, 11, sample="v1", flags=("empty",))
    write(rec, 12, sample="v1", flags=("overexposed",))
    write(rec, 13, sample="v1", flags=("blurred",))
    c = write(rec, 14, sample="v2")
    rec.void(c.id)
    rows = read_rows(tmp_path / "stick")
    assert [r.left_out for r in rows] == ["", "empty", "overexposed", "", "voided"]
    (t,) = summarise(rows)
    assert (t.sample, t.records, t.counts["egg"]) == ("v1", 2, a.counts["egg"] + 13)


def test_lock_names_the_holder(tmp_path):
    import os

    first = LockFile(tmp_path / ".lock", "spool X")
    with pytest.raises(Busy, match=f"pid {os.getpid()}"):
        LockFile(tmp_path / ".lock", "spool X")
    first.release()
    LockFile(tmp_path / ".lock", "spool X").release()


def test_void_list_dedupes(tmp_path):
    day = DayFolder(tmp_path / DAY)
    assert day.add_void(Void("a", "t")) and not day.add_void(Void("a", "t"))
    assert json.loads(day.voids_path.read_text()) == {"id": "a", "time": "t"}


# -- names where they enter ------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ('[bench]\nname = "lab/bench1"\n', "[bench] name = 'lab/bench1'"),
        ('[bench]\nname = "bench\\n1"\n', "[bench] name = 'bench\\n1'"),
        ('[bench]\nname = ""\n', "[bench] name = ''"),
        ('[bench]\nname = "' + "b" * 33 + '"\n', "bench name is 1-32"),
        ('[bench]\nsample = "vial/1"\n', "[bench] sample: sample id 'vial/1' contains a path"),
        ('[bench]\nsample = "v\\u0007"\n', "[bench] sample: sample id 'v\\x07' contains a control"),
    ],
)
def test_config_names_are_checked(tmp_path, text, expected):
    from tests.conftest import run_cli

    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    proc = run_cli("config", "check", "--config", str(cfg))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and str(cfg) in err and expected in err, err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "name, why", [("a/b", "path separator"), ("egg\n", "control"), ("e" * 41, "at most 40")]
)
def test_model_class_names_are_checked(tmp_path, name, why):
    from tests.conftest import run_cli, squares_image, write_png
    from tests.support import onnx_fixtures

    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model([name]))
    img = write_png(tmp_path / "v.png", squares_image([(40, 40)]))
    proc = run_cli("count", str(img), "--model", str(model))
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "m.onnx" in err and "scopecount.classes" in err, err
    assert why in err


def test_a_hostile_qr_label_still_makes_a_record(tmp_path):
    import cv2

    from tests.conftest import write_png

    label = "=VIAL\n42/../../x"
    qr = cv2.QRCodeEncoder.create().encode(label)
    qr = cv2.resize(qr, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    img = np.full((qr.shape[0] + 80, qr.shape[1] + 80, 3), 255, np.uint8)
    img[40 : 40 + qr.shape[0], 40 : 40 + qr.shape[1]] = qr[..., None]
    write_png(tmp_path / "qr" / "a.png", img)
    rig = make_rig(tmp_path, images=tmp_path / "qr")
    try:
        rig.click()
        (ev,) = rig.events.wait("recorded")
        assert ev.data["sample"] == "=VIAL_42_.._.._x"
        (rec,) = rig.records()
        assert (rec["time"], rec["sample"]) == (ev.data["time"], ev.data["sample"])
        day = DayFolder.all_in(rig.storage)[0]
        assert ",'=VIAL_42_.._.._x," in day.counts_path.read_text()
        assert sorted(p.name for p in day.images.iterdir()) == [f"{rec['id']}.jpg"]
    finally:
        rig.close()


def test_sample_dialog_refuses_a_bad_id_and_keeps_the_old_one(tmp_path):
    import asyncio

    from textual.widgets import Label

    from device.tui.app import BenchApp, SampleScreen
    from tests.tui.test_tui import ready, type_sample

    rig = make_rig(tmp_path, start=False)

    async def go():
        app = BenchApp(rig.bench)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot, app)
            await type_sample(pilot, app, "plate/7")
            assert isinstance(app.screen, SampleScreen)
            shown = str(app.screen.query_one("#sample-error", Label).render())
            assert "path separator" in shown
            assert rig.bench.sample == "sample-001"
            await pilot.press("escape")

    asyncio.run(go())
    rig.close()


def test_a_day_folder_reads_as_a_training_folder_without_its_voided_captures(tmp_path):
    from export.folder import read_folder

    rec = local(tmp_path)
    kept = write(rec, 1, ("=egg",))
    gone = write(rec, 2, ("=egg",))
    rec.void(gone.id)
    day = DayFolder.all_in(tmp_path / "stick")[0]
    folder = read_folder(day.path)
    assert [s.name for s in folder.samples] == [kept.image_name]
    assert folder.classes == ["=egg"] and folder.samples[0].points == [(2.0, 2.0, "=egg")]


def test_a_flush_in_slices_moves_a_record_a_slice_and_ends_as_one_flush(tmp_path):
    """A slice whose time is up still moves one record (progress), stops with `more`, and the
    slices together leave the stick and spool exactly as one whole flush does."""
    import shutil
    import time

    template = tmp_path / "t"
    template.mkdir()
    spool_and_stick(template)
    whole, sliced = tmp_path / "whole", tmp_path / "sliced"
    shutil.copytree(template, whole)
    shutil.copytree(template, sliced)
    flush_all(whole / "spool", whole / "stick")
    day = next((sliced / "spool" / "scopecount").glob("[0-9]*"))
    dest = DayFolder.of(sliced / "stick", day.name)
    calls, moved = 0, []
    while True:
        rep = flush_day(
            DayFolder(day), dest, lambda: True, sliced / "spool" / "q", time.monotonic()
        )
        calls += 1
        moved.append(rep.moved + rep.skipped)
        if not rep.more:
            assert rep.complete
            break
        assert calls < 20, "a sliced flush never ends"
    assert moved[:-1] == [1] * (len(moved) - 1)  # one record per spent slice
    assert calls >= 5
    assert (sliced / "stick" / "scopecount" / day.name / "records.jsonl").read_bytes() == (
        whole / "stick" / "scopecount" / day.name / "records.jsonl"
    ).read_bytes()
    assert not day.exists()  # retired, as after the whole flush
