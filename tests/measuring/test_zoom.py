"""The zoom knob: objects measured where the points fell, recounted at the taught size."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from device.measuring.counter import Counter
from device.measuring.zoom import ZoomRef, flag, measure, ratio, training_ref
from tests.conftest import squares_image, write_png
from tests.support import onnx_fixtures
from tests.support.benchfakes import make_rig


def discs(radius: float, spacing: int, shape=(240, 320)) -> tuple[np.ndarray, np.ndarray]:
    pts = np.array(
        [
            (x, y)
            for y in range(spacing, shape[0] - spacing // 2, spacing)
            for x in range(spacing, shape[1] - spacing // 2, spacing)
        ],
        float,
    )
    img = np.full(shape, 220, np.uint8)
    for x, y in pts:
        cv2.circle(img, (int(x), int(y)), int(round(radius)), 40, -1, cv2.LINE_AA)
    return img, pts


@pytest.mark.parametrize("zoom", [0.7, 1.4, 2.0])
def test_measure_follows_the_zoom(zoom):
    base_img, base_pts = discs(10, 50, (400, 500))
    ref = ZoomRef(measure(base_img, base_pts, 20.0))
    img, pts = discs(10 * zoom, int(50 * zoom), (int(400 * zoom), int(500 * zoom)))
    assert ratio(img, pts, ref) == pytest.approx(zoom, rel=0.15)


def test_far_outside_is_flagged_and_too_few_points_tell_nothing():
    base_img, base_pts = discs(5, 30)
    ref = ZoomRef(measure(base_img, base_pts, 10.0))
    big, big_pts = discs(15, 90, (720, 960))
    assert flag(ratio(big, big_pts, ref))
    assert not flag(ratio(base_img, base_pts, ref))
    assert ratio(base_img, base_pts[:3], ref) is None and not flag(None)


def test_training_spread_decides_whether_frames_are_recounted():
    a, pa = discs(5, 30)
    b, pb = discs(5.5, 30)
    ref = training_ref([a, b], [pa, pb], 10.0)
    assert ref.adapt and ref.lo <= 1.0 <= ref.hi
    assert not ref.needs_recount(1.0) and ref.needs_recount(1.5) and ref.needs_recount(0.6)
    c, pc = discs(14, 60, (480, 640))  # the same "objects" at nearly three times the size
    wild = training_ref([a, c], [pa, pc], 10.0)
    assert not wild.adapt and not wild.needs_recount(1.5)


def _square_frame(side: int, zoom: float = 1.0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    s = int(round(side * zoom))
    step = 3 * s
    centres = [(x, y) for y in range(2 * s, 12 * s, step) for x in range(2 * s, 15 * s, step)]
    return squares_image(centres, shape=(13 * s, 16 * s), side=s), centres


def _zoom_model(tmp_path, **own_range: float) -> Path:
    img, centres = _square_frame(16)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    ref = training_ref([grey], [np.array(centres, float)], 16.0)
    zoom = json.dumps({"ref_px": ref.ref_px, "lo": 0.95, "hi": 1.05, "adapt": True} | own_range)
    model = tmp_path / "spot.onnx"
    meta = onnx_fixtures.metadata(["spot"], **{"scopecount.zoom": zoom})
    return onnx_fixtures.write(model, onnx_fixtures.bright_spot_model(meta=meta))


def test_the_bench_flags_a_frame_far_outside_the_taught_size(tmp_path):
    big, _ = _square_frame(16, 3.0)
    write_png(tmp_path / "frames" / "a.png", big)
    rig = make_rig(tmp_path, images=tmp_path / "frames", model=_zoom_model(tmp_path))
    try:
        rig.click()
        (ev,) = rig.events.wait("recorded")
        assert "zoom" in ev.data["flags"] and ev.data["zoom"] > 2.2
        assert any("zoom" in w for w in ev.data["why"])
        (rec,) = rig.records()
        assert "zoom" in rec["flags"] and rec["quality"]["zoom"] == ev.data["zoom"]
    finally:
        rig.close()


def test_counter_recounts_a_zoomed_frame_at_the_taught_size(tmp_path):
    img, centres = _square_frame(16)
    model = _zoom_model(tmp_path)
    plain = tmp_path / "plain.onnx"
    onnx_fixtures.write(plain, onnx_fixtures.bright_spot_model())
    n = len(centres)
    c, p = Counter.from_file(model), Counter.from_file(plain)
    assert c.count(img).counts["spot"] == n and c.count(img).rescaled is False
    big, _ = _square_frame(16, 1.5)
    # The bright-spot model counts area: squares 1.5x wider read as 2.25 objects each.
    assert p.count(big).counts["spot"] > 2 * n
    res = c.count(big)
    assert res.rescaled and res.zoom == pytest.approx(1.5, rel=0.15)
    # This model counts area, so a size error shows squared; uncorrected it counts over 2n.
    assert abs(res.counts["spot"] - n) <= 0.25 * n
    assert c.count(big, adapt_zoom=False).counts["spot"] > 2 * n


def test_each_model_flags_outside_its_own_range():
    own = ZoomRef(10.0, flag_lo=0.8, flag_hi=1.3)
    assert flag(0.75, own) and flag(1.35, own) and not flag(1.0, own)
    assert not flag(0.75) and not flag(1.35)  # the one rule for models made before it
    assert flag(0.6) and flag(2.3)


def test_a_model_with_a_narrow_range_flags_a_frame_the_old_rule_let_pass(tmp_path):
    img, centres = _square_frame(16, 1.5)
    narrow = Counter.from_file(_zoom_model(tmp_path, flag_lo=0.8, flag_hi=1.2))
    assert narrow.info.zoom is not None and narrow.info.zoom.flag_hi == 1.2
    res = narrow.count(img)
    assert res.zoom is not None and 1.2 < res.zoom < 2.2 and res.flags == ["zoom"]
    old = Counter.from_file(_zoom_model(tmp_path))
    assert old.count(img).flags == []


@pytest.mark.parametrize("key, value", [("flag_lo", 0), ("flag_hi", 0.5), ("flag_lo", "x")])
def test_a_zoom_range_out_of_bounds_is_refused(tmp_path, key, value):
    from tests.conftest import run_cli
    from tests.support.cli_checks import one_line_error

    model = _zoom_model(tmp_path, **{key: value})
    img = write_png(tmp_path / "a.png", squares_image([(40, 40)]))
    one_line_error(run_cli("count", str(img), "--model", str(model)), f"scopecount.zoom.{key}")


def test_the_one_rule_is_not_called_the_models_own_range():
    from device.measuring.zoom import flag_text

    rule = ZoomRef(5.0)
    assert not rule.measured
    assert "0.62-2.20x trusted for a model without its own zoom range" in flag_text(0.5, rule)
    own = ZoomRef(5.0, flag_lo=0.8, flag_hi=1.5)
    assert own.measured and "0.80-1.50x this model counts well at" in flag_text(0.5, own)
