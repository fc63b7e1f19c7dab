"""`import tps` and `export tps` as a user runs them: tpsDig's y up from the bottom edge,
missing landmarks, IMAGE= as a name only, a round trip, and refusals that change nothing."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from export.landmarks_folder import read_landmarks_folder
from export.tps import parse_tps
from tests.conftest import run_cli, write_png
from tests.support.cli_checks import one_line_error

TPS = """LM=3
10 40
30.5 20
-1 -1
IMAGE=C:\\wings\\a.png
ID=1
LM=3
1 1
2 2
3 3
IMAGE=b.png
"""


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "wings"
    for n in ("a.png", "b.png", "c.png"):
        write_png(root / "images" / n, np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "w.tps").write_text(TPS)
    return root


def test_import_turns_y_down_and_leaves_missing_landmarks_out(folder, tmp_path):
    r = run_cli("import", "tps", str(tmp_path / "w.tps"), str(folder))
    assert r.returncode == 0, r.stderr
    assert "imported 2 wings of 3 landmarks" in r.stdout.decode()
    assert "1 image in images/ without a specimen in the file" in r.stderr.decode()
    lf = read_landmarks_folder(folder)
    a = next(s for s in lf.samples if s.name == "a.png")
    assert a.points[:2].tolist() == [[10, 8], [30.5, 28]] and np.isnan(a.points[2]).all()


def test_landmarks_already_there_need_replace(folder, tmp_path):
    (folder / "landmarks.csv").write_text("image,landmark,x,y\na.png,1,5,5\nc.png,1,6,6\n")
    before = (folder / "landmarks.csv").read_bytes()
    one_line_error(run_cli("import", "tps", str(tmp_path / "w.tps"), str(folder)), "--replace")
    assert (folder / "landmarks.csv").read_bytes() == before
    r = run_cli("import", "tps", str(tmp_path / "w.tps"), str(folder), "--replace")
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader((folder / "landmarks.csv").open()))
    assert ["c.png", "1", "6", "6"] in rows and ["a.png", "1", "5", "5"] not in rows


@pytest.mark.parametrize(
    ("image", "says"),
    [("../../etc/passwd", "('passwd' first)"), ("", "no IMAGE=")],
)
def test_an_image_name_is_looked_up_never_opened(folder, tmp_path, image, says):
    (tmp_path / "bad.tps").write_text(f"LM=3\n1 1\n2 2\n3 3\nIMAGE={image}\n")
    one_line_error(run_cli("import", "tps", str(tmp_path / "bad.tps"), str(folder)), says)
    assert not (folder / "landmarks.csv").exists()


def test_a_landmark_outside_its_image_is_refused(folder, tmp_path):
    (tmp_path / "bad.tps").write_text("LM=3\n1 1\n2 200\n3 3\nIMAGE=a.png\n")
    one_line_error(run_cli("import", "tps", str(tmp_path / "bad.tps"), str(folder)), "outside")


def test_export_round_trips_and_writes_centroid_sizes(folder, tmp_path):
    assert run_cli("import", "tps", str(tmp_path / "w.tps"), str(folder)).returncode == 0
    out = tmp_path / "out"
    r = run_cli("export", "tps", str(folder), str(out), "--um-per-px", "2.5")
    assert r.returncode == 0, r.stderr
    specimens = parse_tps((out / "wings.tps").read_text(), "wings.tps")
    a = next(s for s in specimens if s.image == "a.png")
    assert a.points[:2].tolist() == [[10, 40], [30.5, 20]] and np.isnan(a.points[2]).all()
    assert a.scale == pytest.approx(0.0025)
    sizes = {r["image"]: r for r in csv.DictReader((out / "wings_centroid_sizes.csv").open())}
    cs = float(sizes["b.png"]["centroid_size_px"])
    assert cs == pytest.approx(np.sqrt(4.0))  # (1,47) (2,46) (3,45): each sqrt(2) or 0 away
    assert float(sizes["b.png"]["centroid_size_mm"]) == pytest.approx(cs * 0.0025, rel=1e-3)


def test_names_a_spreadsheet_would_run_are_matched_on_a_second_import(tmp_path):
    root = tmp_path / "wings"
    write_png(root / "images" / "-1.png", np.zeros((48, 64, 3), np.uint8))
    (tmp_path / "w.tps").write_text("LM=3\n1 1\n2 2\n-0.0 3\nIMAGE=-1.png\n")
    assert run_cli("import", "tps", str(tmp_path / "w.tps"), str(root)).returncode == 0
    one_line_error(run_cli("import", "tps", str(tmp_path / "w.tps"), str(root)), "--replace")
    assert run_cli("import", "tps", str(tmp_path / "w.tps"), str(root), "--replace").returncode == 0
    lf = read_landmarks_folder(root)  # -0.0 read as 0, one row per landmark
    assert lf.samples[0].points[2].tolist() == [0.0, 45.0]


@pytest.mark.parametrize(
    ("text", "says"),
    [("LM=0\nIMAGE=a.png\n", "LM=0"), ("LM=500\n" + "1 1\n" * 500 + "IMAGE=a.png\n", "LM=500")],
)
def test_landmark_counts_a_folder_cannot_hold_are_refused(folder, tmp_path, text, says):
    (tmp_path / "bad.tps").write_text(text)
    one_line_error(run_cli("import", "tps", str(tmp_path / "bad.tps"), str(folder)), says)
    assert not (folder / "landmarks.csv").exists()


def test_a_second_import_with_other_landmarks_is_refused(folder, tmp_path):
    assert run_cli("import", "tps", str(tmp_path / "w.tps"), str(folder)).returncode == 0
    (tmp_path / "two.tps").write_text("LM=2\n1 1\n2 2\nIMAGE=c.png\n")
    one_line_error(run_cli("import", "tps", str(tmp_path / "two.tps"), str(folder)), "one set")


def test_export_names_stay_on_their_line_and_out_dir_must_be_a_folder(tmp_path):
    from export.tps import TpsSpecimen, format_tps

    text = format_tps([TpsSpecimen(np.zeros((3, 2)), image="w\u2028ID=evil\u0085.png")])
    (back,) = parse_tps(text, "x.tps")
    assert back.id == "" and back.image == "w ID=evil .png"
    root = tmp_path / "wings"
    write_png(root / "images" / "a.png", np.zeros((48, 64, 3), np.uint8))
    (root / "landmarks.csv").write_text("image,landmark,x,y\na.png,1,1,1\na.png,2,5,5\n")
    (tmp_path / "file").write_text("")
    one_line_error(run_cli("export", "tps", str(root), str(tmp_path / "file")), "not a folder")


def test_export_from_a_day_folder_keeps_each_wings_side_flags_and_scale(folder, tmp_path):
    """MorphoJ and geomorph need the side (reflect before the fit) and the flags (set a torn
    wing aside): both come from the day's records."""
    from device.records.record import Record

    assert run_cli("import", "tps", str(tmp_path / "w.tps"), str(folder)).returncode == 0
    rec = Record(
        id="a", time="2026-12-07T10:00:00", sample="s1", counts={}, model="wings",
        model_sha256="0" * 64, image="images/a.png", flags=["shape", "unsure"],
        extra={"mirrored": True, "um_per_px": 2.0},
    )  # fmt: skip
    odd = Record(
        id="b", time="2026-12-07T10:01:00", sample="s1", counts={}, model="wings",
        model_sha256="0" * 64, image="images/b.png", flags=[], extra={"mirrored": "yes"},
    )  # fmt: skip
    again = Record(
        id="a2",
        time="2026-12-07T10:02:00",
        sample="s1",
        counts={},
        model="wings",
        model_sha256="0" * 64,
        image="images/a.png",
        flags=["shape", "", "=1+1 x", "unsure"],
        extra={"mirrored": True},
    )  # fmt: skip  (a copied record without a scale, and flags no bench writes)
    lines = [rec.to_json(), odd.to_json(), again.to_json()]
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert run_cli("export", "tps", str(folder), str(out)).returncode == 0
    sizes = {r["image"]: r for r in csv.DictReader((out / "wings_centroid_sizes.csv").open())}
    assert (sizes["a.png"]["mirrored"], sizes["a.png"]["flags"]) == ("yes", "shape unsure")
    assert sizes["a.png"]["centroid_size_mm"] != ""  # 2 um per pixel from the record
    assert (sizes["b.png"]["mirrored"], sizes["b.png"]["flags"]) == ("", "")  # not true/false


def test_curve_points_are_said_to_be_left_out(folder, tmp_path):
    (tmp_path / "c.tps").write_text(
        "LM=3\n1 1\n2 2\n3 3\nCURVES=1\nPOINTS=2\n5 6\n7 8\nIMAGE=a.png\nID=2\n"
    )
    r = run_cli("import", "tps", str(tmp_path / "c.tps"), str(folder))
    assert r.returncode == 0, r.stderr
    assert "2 curve points (tpsDig outlines, semilandmarks) not kept" in r.stderr.decode()
    assert "imported 1 wing of 3 landmarks" in r.stdout.decode()
