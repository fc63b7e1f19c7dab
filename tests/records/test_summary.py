import csv

import numpy as np

from device.records.recorder import Recorder
from tests.conftest import run_cli


def test_summary_totals_and_merged_csv(tmp_path):
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b", removable=False)
    (tmp_path / "stick").mkdir(exist_ok=True)
    rgb = np.zeros((8, 8, 3), np.uint8)
    ids = []
    for sample, n in [("vial-1", 10), ("vial-1", 12), ("vial-2", 7)]:
        ids.append(rec.write(rgb, {"egg": n}, [], ["egg"], sample, "m", "0" * 64, []).id)
    rec.void(ids[1])
    out = tmp_path / "all.csv"
    proc = run_cli("records", "summary", str(tmp_path / "stick"), "--csv", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    lines = [ln.split() for ln in text.splitlines()]
    assert ["vial-1", "1", "10"] == lines[1][1:]  # the voided record is not in the total
    assert ["vial-2", "1", "7"] == lines[2][1:]
    assert "3 records (1 voided)" in text
    rows = list(csv.DictReader(open(out)))
    assert [r["id"] for r in rows] == ids and rows[1]["voided"] == "yes"


def test_summary_of_a_folder_without_records(tmp_path):
    proc = run_cli("records", "summary", str(tmp_path))
    assert proc.returncode == 2 and b"no scopecount records" in proc.stderr


def test_demo_and_not_learnt_counts_stay_out_of_the_totals(tmp_path):
    """A record the demo model (or one that never learnt) made is listed, says why, and is
    never added to a total beside a taught model's counts of the same day."""
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b", removable=False)
    (tmp_path / "stick").mkdir(exist_ok=True)
    rgb = np.zeros((8, 8, 3), np.uint8)
    for n, flags in [(1016, ["demo"]), (9, ["not-learnt"]), (140, ["zoom"]), (167, [])]:
        rec.write(rgb, {"egg": n}, [], ["egg"], "vial-1", "m", "0" * 64, flags)
    out = tmp_path / "all.csv"
    proc = run_cli("records", "summary", str(tmp_path / "stick"), "--csv", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert ["vial-1", "1", "167"] == text.splitlines()[1].split()[1:]
    assert "3 records left out of the totals" in text and "zoom" in text
    assert "demo" in text and "not-learnt" in text
    rows = list(csv.DictReader(open(out)))
    assert [r["left_out"] for r in rows] == ["demo", "not-learnt", "zoom", ""]


def test_landmarks_records_give_the_mean_centroid_size_without_flagged_wings(tmp_path):
    rec = Recorder(tmp_path / "stick", tmp_path / "spool", "b", removable=False)
    (tmp_path / "stick").mkdir(exist_ok=True)
    rgb = np.zeros((8, 8, 3), np.uint8)
    for cs, flags in [(400.0, []), (420.0, []), (250.0, ["shape"]), (390.0, ["unsure"])]:
        extra = {"task": "landmarks", "landmarks": [[1, 1], [2, 2], [3, 1]], "centroid_size": cs}
        rec.write(rgb, {}, [], [], "fly-1", "wings", "0" * 64, flags, extra=extra)
    out = tmp_path / "all.csv"
    proc = run_cli("records", "summary", str(tmp_path / "stick"), "--csv", str(out))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.decode()
    assert "centroid px" in text.splitlines()[0]
    assert text.splitlines()[1].split()[1:] == ["fly-1", "2", "410.0"]
    assert "2 records left out of the totals (1 shape, 1 unsure)" in text
    rows = list(csv.DictReader(open(out)))
    assert [r["centroid_size_px"] for r in rows] == ["400.0", "420.0", "250.0", "390.0"]
