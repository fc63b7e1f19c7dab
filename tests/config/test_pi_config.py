"""Config keys for the Pi's hardware: ranges that lgpio and picamera2 accept, and the shipped
bench config (systemd/config.toml) valid and explicit about what the Pi needs."""

import pytest

from device.config import Config, from_dict, load
from device.core.errors import BadInput
from tests.conftest import REPO


def test_pwm_frequency_is_lgpios_range():
    assert from_dict({"light": {"frequency": 0.1}}, "c.toml").light.frequency == 0.1
    assert from_dict({"light": {"frequency": 10000}}, "c.toml").light.frequency == 10000.0
    with pytest.raises(BadInput, match=r"\[light\] frequency = 20000.0: must be in \[0.1, 10000"):
        from_dict({"light": {"frequency": 20000}}, "c.toml")


def test_camera_module_3_focus_key():
    assert Config().camera.lens_position < 0  # by default the lens is left alone
    assert from_dict({"camera": {"lens_position": 2.5}}, "c.toml").camera.lens_position == 2.5
    with pytest.raises(BadInput, match=r"c.toml: \[camera\] lens_position = 40.0: must be in"):
        from_dict({"camera": {"lens_position": 40}}, "c.toml")


def test_width_without_height_is_refused():
    with pytest.raises(BadInput, match=r"\[camera\] width and height: give both"):
        from_dict({"camera": {"width": 1280}}, "c.toml")


def test_shipped_bench_config_is_valid_and_explicit():
    cfg = load(REPO / "systemd" / "config.toml")
    assert cfg.model.threads > 0  # onnxruntime must never size (and pin) its own pool
    assert cfg.camera.width == 0 and cfg.camera.timeout_ms > 0  # binned default, 1280 wide
    text = (REPO / "systemd" / "config.toml").read_text()
    assert "lens_position" in text and "1280x960" in text


def test_base_install_carries_no_package_the_bench_does_not_import():
    """onnx (and torch) belong to the train extra: nothing under device/ imports them, and
    the Pi's base install stays small (onnx alone is ~17 MB on arm64)."""
    import ast
    import tomllib

    imported = set()
    for path in (REPO / "device").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert not imported & {"onnx", "torch"}
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = {d.split(">")[0].split("<")[0].split("=")[0].split(";")[0].strip()
            for d in project["dependencies"]}  # fmt: skip
    assert "onnx" not in base and "torch" not in base
    assert "onnx" in " ".join(project["optional-dependencies"]["train"])
