"""One press with an areas model, end to end through the real bench: the `recorded` event and
the record carry each class's share of the frame, the day folder keeps the class map, and the
headless JSON says the task."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from tests.conftest import write_png
from tests.support import onnx_fixtures
from tests.support.benchfakes import make_rig
from tests.support.onnx_fixtures import colour_image


@pytest.fixture
def rig(tmp_path):
    shots = tmp_path / "shots"
    # a quarter red, an eighth green; the rest a dark grey that is neither
    img = colour_image((96, 128), red=(0, 0, 64, 48), green=(64, 48, 32, 48))
    img[img.sum(axis=2) == 0] = 40
    write_png(shots / "s0.png", img)
    model = onnx_fixtures.write(tmp_path / "areas.onnx", onnx_fixtures.colour_areas_model())
    r = make_rig(tmp_path, images=shots, model=model)
    yield r
    r.close()


def test_a_press_records_each_class_share_and_keeps_the_class_map(rig):
    rig.bench.press("test")
    (ev,) = rig.events.wait("recorded", timeout=20)
    assert ev.task == "areas" and ev.counts == {}
    assert ev.areas == pytest.approx({"red": 0.25, "green": 0.125}, abs=0.01)
    out = ev.as_json()
    assert out["task"] == "areas" and set(out["areas"]) == {"red", "green"}
    assert "class_map" not in out and "frame" not in out  # local to this process
    (rec,) = rig.records()
    assert rec["task"] == "areas" and rec["areas"] == ev.areas and rec["counts"] == {}
    assert rec["pixels"]["red"] == pytest.approx(64 * 48, rel=0.05)
    day = next((rig.storage / "scopecount").iterdir())
    mask = cv2.imread(str(day / rec["mask"]), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (96, 128)
    assert mask[10, 10] == 2 and mask[70, 80] == 3 and mask[10, 120] == 1
    areas_csv = (day / "areas.csv").read_text().splitlines()
    assert areas_csv[0] == "id,time,sample,model,class,fraction,pixels,mm2,flags,voided"
    assert [r.split(",")[4] for r in areas_csv[1:]] == ["red", "green"]
    assert json.loads(json.dumps(out))["areas"]["red"] == pytest.approx(0.25, abs=0.01)


def test_a_hold_voids_an_areas_record_in_areas_csv(rig):
    rig.bench.press("test")
    rig.events.wait("recorded", timeout=20)
    rig.bench.hold()
    rig.events.wait("voided", timeout=20)
    day = next((rig.storage / "scopecount").iterdir())
    rows = (day / "areas.csv").read_text().splitlines()[1:]
    assert rows and all(r.endswith(",yes") for r in rows)
    assert np.array_equal(
        cv2.imread(str(next((day / "masks").iterdir())), cv2.IMREAD_UNCHANGED).shape, (96, 128)
    )


def test_a_calibrated_bench_records_square_millimetres(rig):
    from device.measuring.calibration import Calibration

    rig.bench.calibration = Calibration("20x", 0.5)
    rig.bench.press("test")
    (ev,) = rig.events.wait("recorded", timeout=20)
    (rec,) = rig.records()
    assert rec["objective"] == "20x" and rec["um_per_px"] == 0.5
    out = ev.as_json()  # the headless event says what the record says
    assert out["objective"] == "20x" and out["um_per_px"] == 0.5 and out["mm2"] == rec["mm2"]
    assert "mask_classes" not in rec  # the day folder's classes.csv names the mask's values
    px = rec["pixels"]["red"]
    assert rec["mm2"]["red"] == pytest.approx(px * 0.25e-6, rel=1e-3)
    day = next((rig.storage / "scopecount").iterdir())
    row = (day / "areas.csv").read_text().splitlines()[1].split(",")
    assert float(row[7]) == pytest.approx(rec["mm2"]["red"])
