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
