import time

import cv2
import numpy as np
import pytest

from device.bench.events import ModelChanged
from device.bench.loop import next_sample
from device.bench.model_sources import FixedModel
from device.config import QualityCfg
from device.measuring.counter import Counter
from tests.conftest import squares_image, write_png
from tests.support.benchfakes import make_rig


@pytest.fixture
def rig(tmp_path):
    r = make_rig(tmp_path)
    yield r
    r.close()


def test_one_click_one_record(rig):
    rig.click()
    (ev,) = rig.events.wait("recorded")
    assert ev.data["counts"] == {"egg": 2}
    recs = rig.records()
    assert [r["id"] for r in recs] == [ev.data["id"]]
    assert recs[0]["sample"] == "sample-001" and recs[0]["counts"] == {"egg": 2}
    day = rig.storage / "scopecount" / recs[0]["time"][:10]
    assert (day / recs[0]["image"]).exists()
    assert (day / "points.csv").read_text().count(recs[0]["id"]) == 2
    head, row = (day / "counts.csv").read_text().splitlines()
    assert head == "id,time,sample,model,class,count,flags,voided"
    assert row.startswith(recs[0]["id"]) and ",egg,2," in row


def test_bounce_storm_is_one_record(tmp_path):
    rig = make_rig(tmp_path, delay_ms=50)
    try:
        pin = rig.button_pin
        for _ in range(25):  # a bouncing contact: many edges within a few ms
            pin.drive_low()
            pin.drive_high()
        rig.events.wait("recorded")
        time.sleep(0.3)
        assert len(rig.records()) == 1
        assert len(rig.events.of("recorded")) == 1
    finally:
        rig.close()


def test_press_while_busy_is_refused_then_next_is_taken(tmp_path):
    rig = make_rig(tmp_path, delay_ms=300)
    try:
        assert rig.bench.press("test") is True
        time.sleep(0.05)
        assert rig.bench.press("test") is False
        assert rig.events.of("refused")[0].data["reason"] == "busy"
        rig.events.wait("recorded")
        # a press after the recorded event is always taken, however soon
        assert rig.bench.press("test") is True
        rig.events.wait("recorded", 2)
        assert [r["sample"] for r in rig.records()] == ["sample-001", "sample-002"]
    finally:
        rig.close()


def test_long_hold_voids_last_record_and_records_nothing(tmp_path):
    rig = make_rig(tmp_path, hold_s=0.2)
    try:
        rig.click()
        (rec,) = rig.events.wait("recorded")
        rig.click(hold_s=0.5)
        (voided,) = rig.events.wait("voided")
        assert voided.data["id"] == rec.data["id"]
        time.sleep(0.2)
        assert len(rig.records()) == 1
        voids = list((rig.storage / "scopecount").glob("*/voids.jsonl"))
        assert len(voids) == 1 and rec.data["id"] in voids[0].read_text()
    finally:
        rig.close()


def test_void_offers_the_same_sample_again_and_a_second_void_says_already(tmp_path):
    rig = make_rig(tmp_path, quality=QualityCfg(empty_std=1.0, focus_min=0.0, qr=False))
    try:
        rig.bench.press("test")
        (rec,) = rig.events.wait("recorded")
        assert rig.bench.sample == "sample-002"
        rig.bench.hold()
        rig.events.wait("voided")
        assert rig.bench.sample == "sample-001"  # the same vial is counted again
        assert rig.events.wait("sample")[-1].data["sample"] == "sample-001"
        rig.bench.hold()
        (refused,) = rig.events.wait("refused")
        assert refused.data["reason"] == "already voided"
        assert rec.data["id"] in refused.data["message"]
        assert not rig.events.of("error")
    finally:
        rig.close()


def test_ring_is_dim_when_ready_full_while_capturing(tmp_path):
    rig = make_rig(tmp_path, delay_ms=300)
    try:
        assert rig.light.value == pytest.approx(0.05)
        rig.bench.press("test")
        time.sleep(0.15)
        assert rig.light.value == pytest.approx(1.0)
        rig.events.wait("recorded")
        assert rig.light.value == pytest.approx(0.05)
    finally:
        rig.close()


def test_camera_failure_then_recovery(rig):
    rig.camera.unplug()
    rig.click()
    (err,) = rig.events.wait("error")
    assert "camera" in err.data["message"]
    time.sleep(0.6)
    values = {round(v, 2) for v in _sample_light(rig)}
    assert values == {0.0, 1.0}  # blinking
    rig.camera.plug()
    rig.click()
    rig.events.wait("recorded")
    assert rig.light.value == pytest.approx(0.05)
    assert len(rig.records()) == 1


def _sample_light(rig, n=12, dt=0.05):
    vals = []
    for _ in range(n):
        vals.append(rig.light.value)
        time.sleep(dt)
    return vals


def test_qr_label_becomes_sample(tmp_path):
    enc = cv2.QRCodeEncoder.create()
    qr = enc.encode("VIAL-42")
    qr = cv2.resize(qr, None, fx=8, fy=8, interpolation=cv2.INTER_NEAREST)
    img = np.full((480, 640, 3), 255, np.uint8)
    img[40 : 40 + qr.shape[0], 40 : 40 + qr.shape[1]] = qr[..., None]
    write_png(tmp_path / "qr" / "a.png", img)
    rig = make_rig(tmp_path, images=tmp_path / "qr")
    try:
        rig.click()
        (ev,) = rig.events.wait("recorded")
        assert ev.data["sample"] == "VIAL-42"
    finally:
        rig.close()


def test_empty_field_is_flagged_but_recorded(tmp_path):
    write_png(tmp_path / "blank" / "a.png", squares_image([], shape=(64, 64)))
    rig = make_rig(tmp_path, images=tmp_path / "blank")
    try:
        rig.click()
        (ev,) = rig.events.wait("recorded")
        assert "empty" in ev.data["flags"]
        assert ev.data["why"] and "nothing in the field" in ev.data["why"][0]
        assert rig.records()[0]["flags"] == ev.data["flags"]
    finally:
        rig.close()


@pytest.mark.parametrize(
    "before, after",
    [("vial-009", "vial-010"), ("plate", "plate-2"), ("s1", "s2"), ("a-099", "a-100")],
)
def test_next_sample(before, after):
    assert next_sample(before) == after


def test_stick_filling_up_is_announced(tmp_path):
    free = [1000]
    rig = make_rig(tmp_path, free_mb=free)
    try:
        (ev,) = rig.events.wait("storage")
        assert ev.data["where"] == "local" and ev.data["warning"] == ""
        free[0] = 100  # under the 256 MB warning level, over the 4 MB floor
        ev = rig.events.wait("storage", 2)[1]
        assert ev.data["where"] == "local" and ev.data["warning"] == "USB stick nearly full"
        rig.click()
        assert rig.events.wait("recorded")[0].data["stored"] == "local"
    finally:
        rig.close()


class SwappedModel(FixedModel):
    """A model source that reports one swap (as the store's watcher does)."""

    def __init__(self, counter: Counter) -> None:
        super().__init__(counter)
        self.swapped = False

    def poll(self) -> ModelChanged | None:
        if self.swapped:
            return None
        self.swapped = True
        return ModelChanged(
            name=self.counter.name, sha256=self.counter.sha256, classes=[], message="new model"
        )


def test_model_event_of_a_synthetic_only_model_says_so(tmp_path):
    rig = make_rig(tmp_path, models=SwappedModel)
    try:
        (ev,) = rig.events.wait("model")
        assert "synthetic vials only" in ev.data["warning"]
    finally:
        rig.close()
