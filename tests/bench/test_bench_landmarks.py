"""One press with a landmarks model, end to end through the real bench: the `recorded` event
and the record carry one position per landmark, centroid size and the side; the day folder
is a landmarks training folder (landmarks.csv) with a centroid_sizes.csv; a hold voids both."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from export.landmarks_folder import read_landmarks_folder
from tests.conftest import write_png
from tests.support import onnx_fixtures
from tests.support.benchfakes import make_rig
from tests.support.onnx_fixtures import LANDMARK_DOTS, landmark_image


@pytest.fixture
def rig(tmp_path):
    shots = tmp_path / "shots"
    write_png(shots / "s0.png", landmark_image((96, 128), grey=110))
    model = onnx_fixtures.write(tmp_path / "lm.onnx", onnx_fixtures.colour_landmarks_model())
    r = make_rig(tmp_path, images=shots, model=model)
    yield r
    r.close()


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_a_press_records_the_landmarks_and_the_day_folder_teaches_them_again(rig):
    from device.measuring.calibration import Calibration

    rig.bench.calibration = Calibration("10x", 2.0)
    rig.bench.press("test")
    (ev,) = rig.events.wait("recorded", timeout=20)
    centres = [[x + 1.5, y + 1.5] for x, y in LANDMARK_DOTS]
    assert ev.task == "landmarks" and ev.counts == {} and ev.flags == []
    assert ev.landmarks == centres and ev.mirrored is False
    out = ev.as_json()
    assert out["landmarks"] == centres and out["mirrored"] is False
    assert out["landmark_names"] == ["humeral", "L3 tip", "L5 tip"]
    (rec,) = rig.records()
    assert rec["landmarks"] == centres and rec["centroid_size"] == out["centroid_size"]
    assert rec["centroid_size_um"] == pytest.approx(2.0 * rec["centroid_size"], abs=0.01)
    day = next((rig.storage / "scopecount").iterdir())
    folder = read_landmarks_folder(day)  # the day folder is a training folder
    assert folder.names == ["1", "2", "3"]
    assert np.allclose(folder.samples[0].points, centres)
    (size,) = rows(day / "centroid_sizes.csv")
    assert size["id"] == rec["id"] and float(size["centroid_size_px"]) == rec["centroid_size"]
    assert size["mirrored"] == "no" and size["voided"] == ""


def test_a_hold_voids_the_landmarks_record_and_corrections_survive(rig):
    from device.records.dayfolder import DayFolder

    rig.bench.press("test")
    rig.events.wait("recorded", timeout=20)
    rig.bench.press("test")
    rig.events.wait("recorded", n=2, timeout=20)
    day = next((rig.storage / "scopecount").iterdir())
    # a person corrects landmark 1 of the first wing, as annotate would save it
    lines = (day / "landmarks.csv").read_text().splitlines()
    first = lines[1].split(",")[0]
    fixed = [ln if not ln.startswith(f"{first},1,") else f"{first},1,20.0,11.0" for ln in lines]
    (day / "landmarks.csv").write_text("\n".join(fixed) + "\n")
    rig.bench.hold()  # voids the second record
    rig.events.wait("voided", timeout=20)
    DayFolder(day).repair()  # as a restart does
    assert (day / "landmarks.csv").read_text() == "\n".join(fixed) + "\n"
    assert [r["voided"] for r in rows(day / "centroid_sizes.csv")] == ["", "yes"]
    folder = read_landmarks_folder(day)  # the voided wing is left out, the correction kept
    assert [s.name for s in folder.samples] == [first]
    assert folder.samples[0].points[0].tolist() == [20.0, 11.0]
