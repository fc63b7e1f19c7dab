"""Areas records in the day folder: the class map as masks/<id>.png with classes.csv, the
fractions in areas.csv, voids, the spool's flush carrying the mask, and the day folder read back
as an areas training folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.records.dayfolder import DayFolder, Void
from device.records.recorder import Recorder
from export.areas_folder import read_areas_folder
from tests.conftest import run_cli


def class_map(h: int = 30, w: int = 40) -> np.ndarray:
    cmap = np.zeros((h, w), np.uint8)
    cmap[:, :10] = 1  # a quarter: gland
    cmap[:3, 10:] = 2  # 3 rows of the rest: stroma
    return cmap


def write_areas(rec: Recorder, sample: str = "s1", flags: list[str] | None = None):
    cmap = class_map()
    rgb = np.full((*cmap.shape, 3), 90, np.uint8)
    extra = {
        "task": "areas",
        "areas": {"gland": 0.25, "stroma": 0.075},
        "pixels": {"gland": 300, "stroma": 90},
        "mask_classes": ["background", "gland", "stroma"],
    }
    return rec.write(
        rgb, {}, [], [], sample, "glands", "a" * 64, flags or [], extra, class_map=cmap
    )


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_an_areas_record_keeps_its_class_map_and_fractions_beside_its_image(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    r = write_areas(rec)
    day = DayFolder.all_in(tmp_path / "stick")[0]
    line = json.loads(day.records_path.read_text())
    assert line["task"] == "areas" and line["counts"] == {}
    assert line["areas"] == {"gland": 0.25, "stroma": 0.075}
    assert line["mask"] == f"masks/{r.id}.png"
    mask = cv2.imread(str(day.path / line["mask"]), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (30, 40) and np.array_equal(mask, class_map() + 1)
    assert (day.path / "classes.csv").read_text().splitlines() == [
        "value,class",
        "1,background",
        "2,gland",
        "3,stroma",
    ]
    got = rows(day.areas_path)
    assert [(g["class"], g["fraction"], g["pixels"], g["voided"]) for g in got] == [
        ("gland", "0.2500", "300", ""),
        ("stroma", "0.0750", "90", ""),
    ]
    assert rows(day.counts_path) == []  # nothing counted: no count rows


def test_the_day_folder_is_an_areas_training_folder(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    write_areas(rec)
    day = DayFolder.all_in(tmp_path / "stick")[0]
    folder = read_areas_folder(day.path)
    assert folder.classes == ["gland", "stroma"]
    (s,) = folder.samples
    assert np.array_equal(s.labels(), class_map())  # background 0, gland 1, stroma 2


def test_a_void_marks_the_areas_rows(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    a = write_areas(rec, "s1")
    write_areas(rec, "s2")
    day = DayFolder.all_in(tmp_path / "stick")[0]
    day.add_void(Void(a.id, "2026-01-01T00:00:00"))
    assert [(g["sample"], g["voided"]) for g in rows(day.areas_path)] == [
        ("s1", "yes"),
        ("s1", "yes"),
        ("s2", ""),
        ("s2", ""),
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a stick needs root (CI runs as root)")
def test_a_spooled_areas_record_reaches_the_stick_with_its_mask(tmp_path):
    stick = tmp_path / "stick"
    stick.mkdir()
    rec = Recorder(stick, tmp_path / "spool", "b1", removable=True)
    r = write_areas(rec)  # nothing mounted at the stick's path: the spool takes it
    assert r.stored == "spool"
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(stick)], check=True)
    try:
        assert rec.flush().moved == 1
        day = DayFolder.all_in(stick)[0]
        line = json.loads(day.records_path.read_text())
        mask = cv2.imread(str(day.path / line["mask"]), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(mask, class_map() + 1)
        assert len(rows(day.areas_path)) == 2
        assert not list((tmp_path / "spool").glob("scopecount/*/masks/*.png"))
    finally:
        subprocess.run(["umount", "-l", str(stick)], check=False)


def test_a_power_cut_between_the_areas_rows_and_the_record_line_is_repaired(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    write_areas(rec)
    day = DayFolder.all_in(tmp_path / "stick")[0]
    good = day.areas_path.read_bytes()
    with open(day.areas_path, "ab") as f:  # rows of a record whose line never came
        f.write(b"x-2,t,s9,glands,gland,0.5,1,,,\n")
    assert day.areas_path in day.repair()
    assert day.areas_path.read_bytes() == good


def test_records_summary_gives_each_sample_its_mean_share_and_the_csv_a_column(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    write_areas(rec, "s1")
    write_areas(rec, "s1")
    r = run_cli("records", "summary", str(tmp_path / "stick"), "--csv", str(tmp_path / "all.csv"))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert "gland %" in out[0] and "stroma %" in out[0]
    assert out[1].split()[1:] == ["s1", "2", "25.0%", "7.5%"]
    got = rows(tmp_path / "all.csv")
    assert [g["gland fraction"] for g in got] == ["0.25", "0.25"]


def test_records_summary_leaves_a_frame_flagged_uncertain_out_of_the_mean_share(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    write_areas(rec, "s1")
    write_areas(rec, "s1", ["uncertain"])
    r = run_cli("records", "summary", str(tmp_path / "stick"), "--csv", str(tmp_path / "all.csv"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines()[1].split()[1:] == ["s1", "1", "25.0%", "7.5%"]
    assert [g["left_out"] for g in rows(tmp_path / "all.csv")] == ["", "uncertain"]


def test_records_summary_names_a_sample_every_record_of_which_was_left_out(tmp_path):
    # with no row it would read as a sample never measured
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    write_areas(rec, "s1")
    write_areas(rec, "s2", ["uncertain"])
    write_areas(rec, "s2", ["uncertain"])
    r = run_cli("records", "summary", str(tmp_path / "stick"))
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode().splitlines()
    assert [line.split()[1] for line in out[1:2]] == ["s1"]
    assert out[-1].endswith(" s2: every record left out (uncertain)")


def test_two_models_with_other_classes_share_one_consistent_classes_csv(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    write_areas(rec, "s1")  # background, gland, stroma
    cmap = np.zeros((30, 40), np.uint8)
    cmap[:, 30:] = 1  # the other model's first class: fat
    cmap[:5, :5] = 2  # its second: gland (value 2 in this folder, 3 in the record's own)
    extra = {
        "task": "areas",
        "areas": {"fat": 0.25, "gland": 0.02},
        "pixels": {"fat": 300, "gland": 25},
        "mask_classes": ["background", "fat", "gland"],
    }
    rgb = np.full((30, 40, 3), 90, np.uint8)
    rec.write(rgb, {}, [], [], "s2", "fat", "b" * 64, [], extra, class_map=cmap)
    day = DayFolder.all_in(tmp_path / "stick")[0]
    assert (day.path / "classes.csv").read_text().splitlines() == [
        "value,class",
        "1,background",
        "2,gland",
        "3,stroma",
        "4,fat",
    ]
    folder = read_areas_folder(day.path)
    assert folder.classes == ["gland", "stroma", "fat"]
    second = next(s for s in folder.samples if s.name.endswith("000002.jpg"))
    want = np.zeros((30, 40), np.int64)
    want[:, 30:] = 3  # fat
    want[:5, :5] = 1  # gland
    assert np.array_equal(second.labels(), want)


@pytest.mark.parametrize(
    "hostile",
    [
        "value,class\n" + "".join(f"{v},c{v}\n" for v in range(1, 256)),  # no value left
        "value,class\n²,x\n1,background\n",  # a digit int() reads but the file format does not
        None,  # a FIFO where classes.csv should be
    ],
)
def test_a_stick_classes_csv_that_cannot_take_the_mask_sends_the_record_to_the_spool(
    tmp_path, hostile
):
    stick = tmp_path / "stick"
    (stick / "scopecount").mkdir(parents=True)
    rec = Recorder(stick, tmp_path / "spool", "b1", removable=False)
    day = DayFolder.of(stick, rec.clock().strftime("%Y-%m-%d"))
    day.path.mkdir(parents=True)
    if hostile is None:
        os.mkfifo(day.path / "classes.csv")
    else:
        (day.path / "classes.csv").write_text(hostile)
    r = write_areas(rec)
    if hostile is not None and "²" in hostile:  # a row it skips: the mask still fits
        assert r.stored == "local"
        return
    assert r.stored == "spool"
    (spooled,) = DayFolder.all_in(tmp_path / "spool")
    assert json.loads(spooled.records_path.read_text())["id"] == r.id
    assert (spooled.masks / f"{r.id}.png").exists()


def test_class_names_differing_in_case_are_one_class_in_classes_csv(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    write_areas(rec)  # background, gland, stroma
    cmap = np.ones((30, 40), np.uint8)
    extra = {
        "task": "areas",
        "areas": {"Gland": 1.0},
        "pixels": {"Gland": 1200},
        "mask_classes": ["background", "Gland"],
    }
    rec.write(
        np.zeros((30, 40, 3), np.uint8), {}, [], [], "s2", "g", "c" * 64, [], extra, class_map=cmap
    )
    day = DayFolder.all_in(tmp_path / "stick")[0]
    assert (day.path / "classes.csv").read_text().count("land") == 1
    assert read_areas_folder(day.path).classes == ["gland", "stroma"]


def test_a_voided_capture_is_not_training_data(tmp_path):
    (tmp_path / "stick").mkdir()
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b1", removable=False)
    a = write_areas(rec, "s1")
    write_areas(rec, "s2")
    day = DayFolder.all_in(tmp_path / "stick")[0]
    day.add_void(Void(a.id, "2026-01-01T00:00:00"))
    names = [s.name for s in read_areas_folder(day.path).samples]
    assert names == [f"{r}.jpg" for r in [day.records()[1].id]]
