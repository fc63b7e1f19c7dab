import types

import numpy as np
import pytest

from device.config import CameraCfg
from device.hardware.camera import CameraError, Picamera2Camera
from tests import picamera2_standin


@pytest.fixture
def module():
    picamera2_standin.Picamera2.instances.clear()
    return types.SimpleNamespace(Picamera2=picamera2_standin.Picamera2)


def test_full_resolution_still_with_locked_exposure(module):
    cam = Picamera2Camera(CameraCfg(settle_ms=0), module)
    pc = module.Picamera2.instances[0]
    assert pc.config["main"] == {"size": (4056, 3040), "format": "RGB888"}
    assert pc.controls == {
        "AeEnable": False,
        "AwbEnable": False,
        "ExposureTime": 12000,
        "AnalogueGain": 2.5,
        "ColourGains": (1.8, 1.4),
    }
    frame = cam.capture()
    assert frame.rgb.shape == (3040, 4056, 3)
    assert frame.rgb[0, 0].tolist() == [0, 0, 200]  # B,G,R from the sensor -> R,G,B
    cam.close()
    assert pc.closed and not pc.started


def test_configured_size_and_fixed_settings(module):
    cfg = CameraCfg(
        settle_ms=0, width=1280, height=960, exposure_us=5000, gain=1.0, awb_gains=[2.0, 1.5]
    )
    cam = Picamera2Camera(cfg, module)
    pc = module.Picamera2.instances[0]
    assert pc.config["main"]["size"] == (1280, 960)
    assert pc.controls["ExposureTime"] == 5000 and pc.controls["ColourGains"] == (2.0, 1.5)
    assert cam.capture().rgb.shape == (960, 1280, 3)


def test_capture_failure_is_a_camera_error_then_recovers(module):
    cam = Picamera2Camera(CameraCfg(settle_ms=0), module)
    module.Picamera2.instances[0].fail_next = True
    with pytest.raises(CameraError, match="timed out"):
        cam.capture()
    assert isinstance(cam.capture().rgb, np.ndarray)


def test_missing_picamera2_says_how_to_install():
    try:
        import picamera2  # noqa: F401
    except ImportError:
        with pytest.raises(CameraError, match="apt install python3-picamera2"):
            Picamera2Camera(CameraCfg(settle_ms=0))
    else:
        pytest.skip("picamera2 is installed here (a Pi): the real one is tested by hand")


@pytest.mark.hardware
def test_real_camera_on_a_pi():
    cam = Picamera2Camera(CameraCfg(settle_ms=500))
    try:
        assert cam.capture().rgb.ndim == 3
    finally:
        cam.close()
