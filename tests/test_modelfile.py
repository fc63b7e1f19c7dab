import json

import pytest

from device.counter import Counter
from device.errors import ModelError
from tests import onnx_fixtures
from tests.conftest import squares_image


def counter_from(tmp_path, data: bytes) -> Counter:
    return Counter.from_file(onnx_fixtures.write(tmp_path / "m.onnx", data))


def test_counts_and_points_on_a_real_onnx_model(spot_model):
    c = Counter.from_file(spot_model)
    img = squares_image([(24, 24), (96, 40), (136, 104)])
    res = c.count(img)
    assert res.counts == {"spot": 3}
    assert len(res.points) == 3
    for x, y in [(24, 24), (96, 40), (136, 104)]:
        # on the 16x16 square (a flat plateau has no single centre)
        assert min(max(abs(px - x), abs(py - y)) for px, py, _ in res.points) < 8
    assert c.info.classes == ["spot"] and len(c.sha256) == 64


def test_rescaling_keeps_the_count(tmp_path):
    meta = onnx_fixtures.metadata(["spot"], **{"scopecount.input_scale": "0.5"})
    c = counter_from(tmp_path, onnx_fixtures.bright_spot_model(meta=meta))
    res = c.count(squares_image([(40, 40), (120, 80)], shape=(160, 192), side=32))
    assert res.counts == {"spot": 2}
    pts = sorted(res.points)
    assert abs(pts[0][0] - 40) < 16 and abs(pts[0][1] - 40) < 16
    assert abs(pts[1][0] - 120) < 16 and abs(pts[1][1] - 80) < 16


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("scopecount.classes", None, "scopecount.classes missing"),
        ("scopecount.classes", "[egg", "scopecount.classes is not valid JSON"),
        ("scopecount.classes", "[]", "non-empty class names"),
        ("scopecount.output_stride", "four", "is not a number"),
        ("scopecount.input_scale", "0", "outside"),
        ("scopecount.format", "99", "reads format 1"),
        ("scopecount.normalization", json.dumps({"mean": [0]}), "mean and std"),
        ("scopecount.decode", "{}", "count_scale=None is not a number"),
    ],
)
def test_bad_metadata_is_a_clear_error(tmp_path, key, value, expected):
    meta = onnx_fixtures.metadata(["spot"], **{key: value})
    with pytest.raises(ModelError) as e:
        counter_from(tmp_path, onnx_fixtures.bright_spot_model(meta=meta))
    assert str(tmp_path / "m.onnx") in str(e.value)
    assert expected in str(e.value)


def test_output_channels_must_match_classes(tmp_path):
    with pytest.raises(ModelError, match="does not fit 2 classes"):
        counter_from(tmp_path, onnx_fixtures.bright_spot_model(["a", "b"], out_channels=3))


def test_output_stride_must_match(tmp_path):
    data = onnx_fixtures.bright_spot_model(stride=8)
    with pytest.raises(ModelError, match="stride 4"):
        counter_from(tmp_path, data)


@pytest.mark.parametrize("data", [b"", b"\x00" * 100, b"garbage that is not protobuf"])
def test_not_onnx(tmp_path, data):
    with pytest.raises(ModelError):
        counter_from(tmp_path, data)


def test_truncated_file(tmp_path):
    data = onnx_fixtures.bright_spot_model()
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        counter_from(tmp_path, data[: len(data) // 2])
