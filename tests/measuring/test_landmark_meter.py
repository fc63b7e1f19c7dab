"""The landmarks detector with a real ONNX model (landmark k where the frame has colour k):
positions, centroid size, the mirrored side, and the flags for a missing or misplaced one."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.core.errors import ModelError
from device.measuring.detector import open_detector
from device.measuring.landmark_meter import META_KEY, looks_from_meta, looks_to_meta
from device.measuring.landmark_refine import grey, learn_looks
from device.measuring.shapes import centroid_size
from tests.support.onnx_fixtures import (
    LANDMARK_DOTS,
    colour_landmarks_model,
    landmark_image,
    metadata,
)


@pytest.fixture(scope="module")
def meter():
    return open_detector(colour_landmarks_model(), "lm.onnx", threads=1)


def test_each_landmark_lands_on_its_dot(meter):
    res = meter.measure(landmark_image())
    assert res.task == "landmarks" and res.counts == {} and res.flags == []
    centres = [(x + 1.5, y + 1.5) for x, y in LANDMARK_DOTS]
    for got, want in zip(res.landmarks, centres, strict=True):
        assert got == pytest.approx(want, abs=0.01)
    assert res.centroid_size == pytest.approx(centroid_size(np.array(centres)))
    assert res.mirrored is False and res.shape_distance == pytest.approx(0, abs=1e-6)
    assert res.confidence == [1.0, 1.0, 1.0]


def test_a_mirrored_frame_is_recognised_and_keeps_the_numbering(meter):
    res = meter.measure(landmark_image()[:, ::-1].copy())
    assert res.mirrored is True and res.flags == []
    assert res.landmarks[0] == pytest.approx((63 - 17.5, 9.5), abs=0.01)


def test_a_missing_landmark_is_none_and_flags_the_frame(meter):
    res = meter.measure(landmark_image(dots=[LANDMARK_DOTS[0], LANDMARK_DOTS[1], None]))
    assert res.landmarks[2] is None and "unsure" in res.flags and "shape" in res.flags
    assert res.centroid_size is None  # a size from 2 of 3 landmarks is no wing's size


def test_a_moved_landmark_flags_the_shape(meter):
    res = meter.measure(landmark_image(dots=[(16, 8), (40, 36), (28, 20)]))
    assert res.flags == ["shape"] and res.shape_distance > 0.1


def test_records_carry_the_landmarks_in_order(meter):
    res = meter.measure(landmark_image())
    rec = res.record_fields(meter.info.classes)
    assert rec["task"] == "landmarks" and rec["landmark_names"] == ["humeral", "L3 tip", "L5 tip"]
    assert rec["landmarks"][0] == [17.5, 9.5] and rec["mirrored"] is False
    json.dumps(rec)  # plain JSON for records.jsonl


@pytest.mark.parametrize(
    "value",
    [None, "[]", "{", json.dumps({"mean_shape": [[0, 0]], "max_distance": 0.1})],
)
def test_a_landmarks_model_without_good_shape_metadata_is_refused(value):
    import onnx

    model = onnx.load_from_string(colour_landmarks_model())
    props = {p.key: p.value for p in model.metadata_props}
    del model.metadata_props[:]
    for k, v in props.items():
        if k == META_KEY and value is None:
            continue
        e = model.metadata_props.add()
        e.key, e.value = k, (value if k == META_KEY else v)
    with pytest.raises(ModelError, match=f"lm.onnx: metadata {META_KEY}"):
        open_detector(model.SerializeToString(), "lm.onnx", threads=1)


def test_the_metadata_helper_still_makes_count_models():
    assert "scopecount.task" not in metadata(["egg"])


def test_peaks_all_on_one_point_are_a_flagged_frame_not_a_broken_model():
    from tests.support.onnx_fixtures import colour_landmarks_model

    four = [(10.0, 10.0), (40.0, 10.0), (40.0, 40.0), (10.0, 40.0)]
    det = open_detector(colour_landmarks_model(["a", "b", "c"]), "lm.onnx", threads=1)
    assert det.measure(np.full((64, 64, 3), 200, np.uint8)).landmarks is not None
    from device.measuring.landmarks import choose

    speck = [[(5.0, 5.0, 1.0)]] * 4  # every map's only peak on the same cell
    uv, _ = choose(speck, np.array(four) / 42.43 - np.array(four).mean(axis=0) / 42.43)
    assert np.allclose(uv, 5.0)


def with_landmarks_key(key: str, value: object, views: int = 1) -> bytes:
    """The colour landmarks model with scopecount.landmarks[key] set to `value`."""
    import onnx

    model = onnx.load_from_string(colour_landmarks_model(views=views))
    for p in model.metadata_props:
        if p.key == META_KEY:
            d = json.loads(p.value)
            d[key] = value
            p.value = json.dumps(d)
    return model.SerializeToString()


@pytest.mark.parametrize("bad", [10**400, float("nan"), True])
def test_shape_limits_no_float_holds_are_a_model_error(bad):
    with pytest.raises(ModelError, match="max_distance"):
        open_detector(with_landmarks_key("max_distance", bad), "lm.onnx", threads=1)


def test_four_views_find_the_dots_as_one_does():
    det = open_detector(colour_landmarks_model(views=4), "lm.onnx", threads=1)
    assert det.params.views == 4
    for frame in (landmark_image(), landmark_image((64, 72))):  # 72: not a multiple of 16
        one = open_detector(colour_landmarks_model(), "lm.onnx", threads=1).measure(frame)
        four = det.measure(frame)
        for a, b in zip(four.landmarks, one.landmarks, strict=True):
            assert a == pytest.approx(b, abs=0.01)
        assert four.flags == [] and four.confidence == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("views", [3, 0, "4", True, 4.0, None])
def test_views_other_than_1_2_4_are_a_model_error(views):
    with pytest.raises(ModelError, match=r"lm.onnx: metadata scopecount.landmarks.views must be"):
        open_detector(with_landmarks_key("views", views), "lm.onnx", threads=1)


def test_a_model_without_views_reads_one():
    import onnx

    model = onnx.load_from_string(colour_landmarks_model(views=2))
    for p in model.metadata_props:
        if p.key == META_KEY:
            d = json.loads(p.value)
            assert d.pop("views") == 2
            p.value = json.dumps(d)
    assert open_detector(model.SerializeToString(), "lm.onnx", threads=1).params.views == 1


def test_a_double_output_beyond_float_range_is_a_model_error():
    """Finite as doubles, infinite as the float32 the maps are read in (was: Infinity in
    the JSON of a press)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(colour_landmarks_model())
    g = model.graph
    g.node[-1].output[0] = "heat32"
    g.initializer.append(numpy_helper.from_array(np.array(1e300), "huge"))
    g.node.extend(
        [
            helper.make_node("Cast", ["heat32"], ["heat64"], to=TensorProto.DOUBLE),
            helper.make_node("Mul", ["heat64", "huge"], ["heat"]),
        ]
    )
    g.output[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    det = open_detector(model.SerializeToString(), "lm.onnx", threads=1)
    with pytest.raises(ModelError, match="lm.onnx: heatmaps must be finite"):
        det.measure(landmark_image())


def dot_looks(shift: tuple[float, float]) -> dict:
    """Looks taught on the dots frame with every landmark placed `shift` from its dot."""
    centres = np.array([(x + 1.5, y + 1.5) for x, y in LANDMARK_DOTS]) + shift
    frame = landmark_image(grey=90)
    canon = centres - centres.mean(axis=0)
    return looks_to_meta(learn_looks([(grey(frame), centres)], canon, size=9, radius=4))


def test_a_model_with_looks_places_each_landmark_where_they_were_taught():
    det = open_detector(with_landmarks_key("looks", dot_looks((2.0, 0.0))), "lm.onnx", threads=1)
    assert det.params.looks is not None and det.params.looks.size == 9
    res = det.measure(landmark_image(grey=90))
    centres = [(x + 3.5, y + 1.5) for x, y in LANDMARK_DOTS]  # 2 px right of every dot
    for got, want in zip(res.landmarks, centres, strict=True):
        assert got == pytest.approx(want, abs=0.3)
    plain = open_detector(colour_landmarks_model(), "lm.onnx", threads=1)
    assert plain.params.looks is None  # a model from before looks reads as before


def test_looks_keep_their_patches_through_the_model_file():
    meta = dot_looks((0.0, 0.0))
    mean = np.array([(x + 1.5, y + 1.5) for x, y in LANDMARK_DOTS])
    mean = (mean - mean.mean(axis=0)) / centroid_size(mean)
    back = looks_from_meta(json.loads(json.dumps(meta)), "lm.onnx", mean)
    again = looks_from_meta(looks_to_meta(back), "lm.onnx", mean)
    assert np.allclose(back.patches, again.patches, atol=0.05)
    assert centroid_size(back.canon) == pytest.approx(meta["wing_size"])


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"size": 8.0}, "size"),
        ({"size": 8}, "size"),
        ({"wing_size": 0.0}, "wing_size"),
        ({"size": 99}, "size"),
        ({"radius": 0}, "radius"),
        ({"radius": True}, "radius"),
        ({"blur": float("nan")}, "blur"),
        ({"wing_size": -1}, "wing_size"),
        ({"patches": "AAAA"}, "patches"),
        ({"patches": 5}, "patches"),
        ({"patches": "!" * 324}, "patches"),
        ({"spread": [1.0, 2.0]}, "spread"),
        ({"spread": [1.0, 2.0, float("nan")]}, "spread"),
        ({"spread": "1,2,3"}, "spread"),
    ],
)
def test_bad_looks_are_a_model_error_naming_the_key(change, key):
    looks = dot_looks((0.0, 0.0)) | change
    with pytest.raises(ModelError, match=rf"lm.onnx: metadata {META_KEY}.looks.{key}"):
        open_detector(with_landmarks_key("looks", looks), "lm.onnx", threads=1)


def test_looks_that_are_not_an_object_are_a_model_error():
    with pytest.raises(ModelError, match=rf"{META_KEY}.looks is not a JSON object"):
        open_detector(with_landmarks_key("looks", [1, 2]), "lm.onnx", threads=1)
