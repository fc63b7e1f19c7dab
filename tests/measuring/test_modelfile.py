import json

import cv2
import numpy as np
import pytest

from device.core.errors import ModelError
from device.measuring.counter import Counter
from device.measuring.modelfile import parse_metadata
from tests.conftest import run_cli, squares_image, write_png
from tests.support import onnx_fixtures
from tests.support.cli_checks import one_line_error


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
        # train enlarges 2.5x at most; 16 took 6 GB for one 1280x960 frame (found by review)
        ("scopecount.input_scale", "16", "input_scale=16 is outside [0.01, 4]"),
        (
            "scopecount.zoom",
            json.dumps({"ref_px": 8, "lo": 0.9, "hi": 1.1, "adapt": "false"}),
            "scopecount.zoom.adapt='false' is not true/false",
        ),
        ("scopecount.format", "99", "reads format 1"),
        ("scopecount.normalization", json.dumps({"mean": [0]}), "mean and std"),
        ("scopecount.decode", "{}", "count_scale=None is not a number"),
        # Values json and float() raise other errors for (found by review): still one line.
        ("scopecount.metrics", '{"train_mae": ' + "9" * 4400 + "}", "metrics is not valid JSON"),
        ("scopecount.training", "[" * 30_000 + "]" * 30_000, "training is not valid JSON"),
        (
            "scopecount.decode",
            json.dumps({"count_scale": 10**400, "kernel_sigma": 1.0}),
            "count_scale=1000",
        ),
        (
            "scopecount.normalization",
            json.dumps({"mean": [10**400, 0, 0], "std": [1, 1, 1]}),
            "mean and std",
        ),
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


# -- names, metadata sizes, external data, control flow -------------------------

from device.measuring.onnx_scan import scan  # noqa: E402
from tests.support import hostile_onnx  # noqa: E402


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("scopecount.name", "x" * 20_000_000, "'scopecount.name' is 20000000 bytes; all metadata"),
        ("scopecount.name", "x" * 101, "scopecount.name is 101 characters long (at most 100)"),
        ("scopecount.name", "eggs\x1b[2J\x1b[31mOK", "scopecount.name='eggs\\\\x1b[2J"),
        ("scopecount.name", "eggs\u202ev2", "control character (U+202E)"),
        ("scopecount.name", "../eggs", "scopecount.name='../eggs' contains a path separator"),
        ("scopecount.name", "..", "scopecount.name='..' is not a name"),
        ("scopecount.name", " eggs", "starts or ends with a space"),
        ("scopecount.name", "  ", "scopecount.name is empty"),
        ("scopecount.classes", json.dumps(["a/b"]), "classes[0]='a/b' contains a path separator"),
        ("scopecount.classes", json.dumps(["a\\b"]), "scopecount.classes[0]"),
        ("scopecount.classes", json.dumps(["egg\n"]), "scopecount.classes[0]='egg\\\\n' contains"),
        ("scopecount.classes", json.dumps(["e" * 41]), "classes[0] is 41 characters long (at"),
        ("scopecount.classes", json.dumps([f"c{i}" for i in range(33)]), "33 names (at most 32)"),
        ("scopecount.classes", json.dumps([3]), "scopecount.classes[0] must be a string"),
        ("scopecount.description", "d" * 70_000, "scopecount.description is 70000 characters"),
    ],
    ids=lambda v: repr(v)[:24],
)
def test_names_are_checked_where_a_model_is_loaded(tmp_path, key, value, expected):
    with pytest.raises(ModelError) as e:
        counter_from(tmp_path, hostile_onnx.with_metadata(**{key: value}))
    msg = str(e.value)
    assert msg.startswith(str(tmp_path / "m.onnx") + ": ") and expected in msg
    # One line, nothing a terminal would interpret, and never megabytes of name.
    assert "\n" not in msg and "\x1b" not in msg and "\u202e" not in msg and len(msg) < 400


def test_metadata_over_the_total_limit_is_refused_before_onnxruntime(tmp_path):
    data = hostile_onnx.with_metadata(**{"scopecount.junk": "j" * 300_000})
    with pytest.raises(ModelError, match="'scopecount.junk' is 300000 bytes; all metadata"):
        scan(data, "m.onnx")


def test_external_data_is_refused_even_when_the_file_is_there(tmp_path):
    data, weights = hostile_onnx.external_data_model("weights.bin")
    (tmp_path / "weights.bin").write_bytes(weights)
    model = onnx_fixtures.write(tmp_path / "m.onnx", data)
    with pytest.raises(ModelError, match="tensor 'w' keeps its data in an external file"):
        Counter.from_file(model)


def test_control_flow_is_refused_before_it_runs(tmp_path):
    import time

    t = time.perf_counter()
    with pytest.raises(ModelError, match="operator 'Loop'"):
        counter_from(tmp_path, hostile_onnx.loop_model())
    assert time.perf_counter() - t < 1.0


def test_scan_reads_the_same_metadata_as_onnx(spot_model):
    import onnx

    data = spot_model.read_bytes()
    expected = {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
    assert scan(data, "m") == expected


def test_scan_refuses_damaged_files_with_a_model_error_only(tmp_path):
    import numpy as np

    data = bytearray(hostile_onnx.with_metadata())
    rng = np.random.default_rng(1)
    refused = 0
    for _ in range(300):
        bad = bytearray(data)
        for i in rng.integers(0, len(bad), 4):
            bad[i] = int(rng.integers(0, 256))
        try:
            scan(bytes(bad), "m")
        except ModelError:
            refused += 1
    assert refused > 0  # damaged files are refused, and nothing but ModelError escapes
    with pytest.raises(ModelError, match="metadata 'scopecount.format' is given twice"):
        scan(_twice(bytes(data)), "m")


def _twice(data: bytes) -> bytes:
    """The model with its first metadata entry appended once more (a repeated key)."""
    from device.measuring.onnx_scan import MODEL_METADATA, fields

    for num, wire, val in fields(memoryview(data)):
        if num == MODEL_METADATA and wire == 2:
            entry = bytes(val)
            return data + bytes([MODEL_METADATA << 3 | 2]) + _varint(len(entry)) + entry
    raise AssertionError("no metadata")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


# -- a retrained model never keeps the old model's signature --------------------------


def test_writing_a_model_removes_the_signature_of_the_one_it_replaces(tmp_path):
    from device.measuring.modelfile import write_model_file

    out = tmp_path / "eggs.onnx"
    out.write_bytes(b"old model")
    (tmp_path / "eggs.onnx.sig").write_text("c2lnbmF0dXJl\n")
    (tmp_path / "other.onnx.sig").write_text("c2lnbmF0dXJl\n")
    removed = write_model_file(out, b"new model")
    assert removed == [tmp_path / "eggs.onnx.sig"]
    assert out.read_bytes() == b"new model" and not (tmp_path / "eggs.onnx.sig").exists()
    assert (tmp_path / "other.onnx.sig").exists()  # only the replaced model's own signature
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eggs.onnx", "other.onnx.sig"]
    assert write_model_file(tmp_path / "fresh.onnx", b"m") == []


@pytest.mark.parametrize(
    "raw",
    ["1_0", " 1.5", "1.5 ", "\u0661", "0x10", "nan", "inf", "1e", "1" * 65, "4" * 65500 + "x"],
)
def test_a_number_in_metadata_is_plain_ascii_decimal(raw):
    """float() would read "1_0" as 10 and Arabic-Indic digits as numbers; `train` writes
    neither, so a file carrying them was made or edited by something else."""
    meta = onnx_fixtures.metadata(["egg"], **{"scopecount.input_scale": raw})
    with pytest.raises(ModelError, match="input_scale"):
        parse_metadata(meta, "m.onnx")


def _broken_density_models(tmp_path):
    """Models that pass the start-up check (a random input) but give a density that is no
    count on a real frame: infinite, NaN, or hundreds of millions of objects."""
    import onnx
    from onnx import helper

    norm = json.dumps({"mean": [0, 0, 0], "std": [0.001, 0.001, 0.001]})
    meta = onnx_fixtures.metadata(["spot"], **{"scopecount.normalization": norm})
    inf = onnx_fixtures.bright_spot_model(gain=1e37, meta=meta)
    m = onnx.load_from_string(inf)
    m.graph.node[-1].output[0] = "d0"
    m.graph.node.append(helper.make_node("Sub", ["d0", "d0"], ["density"]))
    return {
        "inf": onnx_fixtures.write(tmp_path / "inf.onnx", inf),
        "nan": onnx_fixtures.write(tmp_path / "nan.onnx", m.SerializeToString()),
        "huge": onnx_fixtures.write(
            tmp_path / "huge.onnx", onnx_fixtures.bright_spot_model(gain=1e6)
        ),
    }


def test_a_density_that_is_no_count_is_one_line_naming_the_model(tmp_path):
    """It crashed (NaN, inf: a traceback, exit 1) or placed points for minutes (2e8 objects)."""

    from tests.conftest import run_cli

    cv2.imwrite(str(tmp_path / "white.png"), np.full((64, 64, 3), 255, np.uint8))
    for name, model in _broken_density_models(tmp_path).items():
        proc = run_cli("count", str(tmp_path / "white.png"), "--model", str(model), timeout=60)
        err = proc.stderr.decode().strip()
        assert proc.returncode == 2 and len(err.splitlines()) == 1, (name, err)
        assert f"{name}.onnx" in err and "not a count" in err, err


def test_a_json_true_is_not_the_number_one():
    meta = onnx_fixtures.metadata(
        ["egg"], **{"scopecount.decode": json.dumps({"count_scale": True, "kernel_sigma": 1.0})}
    )
    with pytest.raises(ModelError, match="count_scale"):
        parse_metadata(meta, "m.onnx")


def test_a_zoom_reference_far_from_the_shown_size_is_refused(tmp_path):
    far = json.dumps({"ref_px": 2000, "lo": 1, "hi": 1, "adapt": True})
    meta = onnx_fixtures.metadata(["egg"], **{"scopecount.zoom": far})
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    img = write_png(tmp_path / "a.png", squares_image([(40, 40)]))
    one_line_error(run_cli("count", str(img), "--model", str(model)), "scopecount.zoom.ref_px")


@pytest.mark.parametrize(
    "norm",
    [
        '{"mean": [NaN, 0, 0], "std": [1, 1, 1]}',
        '{"mean": [0, 0, 0], "std": [Infinity, 1e-300, 1]}',
    ],
)
def test_non_finite_normalization_is_refused(tmp_path, norm):
    meta = onnx_fixtures.metadata(["egg"], **{"scopecount.normalization": norm})
    model = onnx_fixtures.write(tmp_path / "m.onnx", onnx_fixtures.bright_spot_model(meta=meta))
    img = write_png(tmp_path / "a.png", squares_image([(40, 40)]))
    one_line_error(run_cli("count", str(img), "--model", str(model)), "normalization")
