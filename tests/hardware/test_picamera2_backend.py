import types

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPWMPin

from device.config import CameraCfg, LightCfg
from device.hardware.camera import CameraError, Picamera2Camera, default_sizes
from device.hardware.light import PWMRing
from tests.support import picamera2_standin
from tests.support.picamera2_standin import TARGET_LEVEL


@pytest.fixture
def module():
    pc = picamera2_standin.Picamera2
    pc.instances.clear()
    pc.sensor = "imx477"
    pc.scene = staticmethod(lambda: 1.0)
    yield types.SimpleNamespace(Picamera2=pc)
    pc.sensor = "imx477"
    pc.scene = staticmethod(lambda: 1.0)


@pytest.fixture
def ring(module):
    """The LED ring on a mock pin; the stand-in's field is lit by it."""
    light = PWMRing(LightCfg(pin=18, ready=0.05, capture=1.0), MockFactory(pin_class=MockPWMPin))
    light.off()
    module.Picamera2.scene = staticmethod(lambda: light.value)
    yield light
    light.close()


def test_default_is_the_binned_mode_scaled_to_1280_wide(module, ring):
    cam = Picamera2Camera(CameraCfg(settle_ms=0), module, ring)
    pc = module.Picamera2.instances[0]
    assert pc.config["sensor"] == {"output_size": (2028, 1520)}
    assert pc.config["main"]["size"] == (1280, 960) and pc.config["main"]["format"] == "RGB888"
    frame = cam.capture()
    assert frame.rgb.shape == (960, 1280, 3)
    level = frame.rgb[0, 0].tolist()
    assert level == [level[2] // 4, level[2] // 2, level[2]]  # B,G,R from the sensor -> R,G,B
    assert "imx477 1280x960" in cam.describe()
    cam.close()
    assert pc.closed and not pc.started and pc.outstanding == 0


def test_default_sizes_per_camera():
    cm3 = [{"size": (1536, 864)}, {"size": (2304, 1296)}, {"size": (4608, 2592)}]
    assert default_sizes((4608, 2592), cm3) == ((2304, 1296), (1280, 720))
    v2 = [
        {"size": (640, 480)},
        {"size": (1640, 1232)},
        {"size": (1920, 1080)},
        {"size": (3280, 2464)},
    ]
    assert default_sizes((3280, 2464), v2) == ((1640, 1232), (1280, 962))
    assert default_sizes((1920, 1080), [{"size": (1920, 1080)}]) == ((1920, 1080), (1280, 720))


def test_exposure_is_locked_under_the_ring_at_capture_then_the_ring_dims(module, ring):
    cam = Picamera2Camera(CameraCfg(settle_ms=0), module, ring)
    pc = module.Picamera2.instances[0]
    # Auto exposure ran with the ring at full (ambient 0.02 + 1.0), not in the dark.
    assert cam.locked["AeEnable"] is False and cam.locked["AwbEnable"] is False
    assert cam.locked["ExposureTime"] == pytest.approx(10000 / 1.02, rel=0.01)
    assert cam.locked["ColourGains"] == (1.8, 1.4)
    assert pc.applied["ExposureTime"] == cam.locked["ExposureTime"]
    assert ring.value == pytest.approx(0.05)  # dimmed to ready after locking
    # A press: ring to full, capture. The frame is exposed as auto exposure intended.
    ring.capture()
    frame = cam.capture()
    assert abs(int(frame.rgb[..., 2].mean()) - TARGET_LEVEL) <= 2


def test_locking_in_the_dark_would_saturate_captures(module):
    """What the old order did (lock before the ring existed): the same check fails."""
    module.Picamera2.scene = staticmethod(lambda: 0.0)
    cam = Picamera2Camera(CameraCfg(settle_ms=0), module)
    module.Picamera2.scene = staticmethod(lambda: 1.0)
    assert cam.capture().rgb[..., 2].min() == 255


def test_each_capture_waits_for_a_frame_exposed_after_the_press(module, ring):
    cam = Picamera2Camera(CameraCfg(settle_ms=0, timeout_ms=1500), module, ring)
    pc = module.Picamera2.instances[0]
    stale = pc.queued[0]  # finished while the ring was dim
    ring.capture()
    frame = cam.capture()
    assert stale.released and pc.exposures[-2] == pytest.approx(1.02)
    assert abs(int(frame.rgb[..., 2].mean()) - TARGET_LEVEL) <= 2
    # The library's own capture_array hands over the queued, stale frame (dim): we never use it.
    ring.ready()
    pc.capture_array()  # a frame queued under the dim ring
    ring.capture()
    assert abs(int(cam.capture().rgb[..., 2].mean()) - TARGET_LEVEL) <= 2
    assert pc.outstanding == len(pc.queued)  # every request we took was given back


def test_a_dead_camera_times_out_as_a_camera_error_then_recovers(module, ring):
    cam = Picamera2Camera(CameraCfg(settle_ms=0, timeout_ms=700), module, ring)
    pc = module.Picamera2.instances[0]
    pc.hang = True
    with pytest.raises(CameraError, match="no frame within 0.7 s"):
        cam.capture()
    pc.hang = False
    assert isinstance(cam.capture().rgb, np.ndarray)


def test_configured_size_and_fixed_settings(module, ring):
    cfg = CameraCfg(
        settle_ms=0, width=1920, height=1440, exposure_us=5000, gain=1.0, awb_gains=[2.0, 1.5]
    )
    cam = Picamera2Camera(cfg, module, ring)
    pc = module.Picamera2.instances[0]
    assert pc.config["main"]["size"] == (1920, 1440) and pc.config["sensor"] == {}
    assert pc.applied["ExposureTime"] == 5000 and pc.applied["ColourGains"] == (2.0, 1.5)
    assert cam.capture().rgb.shape == (1440, 1920, 3)


def test_camera_module_3_focus_is_locked_from_the_config(module, ring):
    module.Picamera2.sensor = "imx708"
    cam = Picamera2Camera(CameraCfg(settle_ms=0, lens_position=2.5), module, ring)
    pc = module.Picamera2.instances[0]
    assert pc.config["controls"] == {"AfMode": 0, "LensPosition": 2.5}
    assert pc.config["main"]["size"] == (1280, 720)
    assert cam.capture().meta["SensorTimestamp"] > 0


def test_focus_on_a_camera_without_a_lens_motor_is_refused(module, ring):
    with pytest.raises(CameraError, match="imx477 has no focus control"):
        Picamera2Camera(CameraCfg(settle_ms=0, lens_position=2.5), module, ring)


def test_no_camera_is_a_camera_error(module):
    module.Picamera2.sensor = ""
    with pytest.raises(CameraError, match="no Raspberry Pi camera found"):
        Picamera2Camera(CameraCfg(settle_ms=0), module)


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


def test_a_camera_starved_by_abandoned_requests_is_restarted_and_relocked(module, ring):
    """Abandoned jobs that took frames before a fix (or a libcamera stall) leave the camera
    starved: every capture times out. After two timeouts in a row the backend stops and starts
    it, which returns every buffer, and sets the locked exposure again."""
    cam = Picamera2Camera(CameraCfg(settle_ms=0, timeout_ms=300), module, ring)
    pc = module.Picamera2.instances[0]
    pc.leaked.append(pc._expose())  # one buffer held by nobody: starved
    with pytest.raises(CameraError, match="timed out"):
        cam.capture()
    with pytest.raises(CameraError, match="timed out"):
        cam.capture()  # the second timeout restarts the camera
    assert not pc.leaked and pc.started
    assert (
        pc.applied["AeEnable"] is False and pc.applied["ExposureTime"] == cam.locked["ExposureTime"]
    )
    assert isinstance(cam.capture().rgb, np.ndarray)
    assert cam.timeouts == 0


def test_a_camera_without_exposure_controls_still_captures_and_says_it_cannot_lock(module):
    """libcamera's virtual camera advertises no controls: picamera2 refuses to set any, so
    the bench locks what there is and says what it could not."""
    module.Picamera2.sensor = "Virtual0"
    cam = Picamera2Camera(CameraCfg(settle_ms=0), module)
    pc = module.Picamera2.instances[0]
    assert cam.locked == {} and pc.applied == {"AeEnable": True, "AwbEnable": True}
    assert "cannot lock AeEnable, AwbEnable, ExposureTime, AnalogueGain, ColourGains" in (
        cam.describe()
    )
    rgb = cam.capture().rgb
    assert rgb.shape == (480, 640, 3)  # the size and format libcamera settled on (NV12)
    b, g, r = (int(rgb[..., k].mean()) for k in (2, 1, 0))
    assert abs(b - 2 * g) <= 6 and abs(g - 2 * r) <= 6  # the stand-in's B, G/2, R/4 field
    assert "640x480" in cam.describe() and pc.config["sensor"] == {}


@pytest.mark.parametrize("fmt", ["RGB888", "BGR888", "NV12", "NV21", "YUV420"])
def test_every_format_picamera2_may_settle_on_reads_as_the_same_rgb(fmt):
    import cv2

    from device.hardware.pixels import to_rgb

    rgb = np.zeros((8, 12, 3), np.uint8)
    rgb[:, :6] = (200, 40, 90)
    rgb[:, 6:] = (20, 180, 250)
    stride = 16  # rows padded beyond the width, as libcamera's strides are
    if fmt in ("RGB888", "BGR888"):
        arr = np.zeros((8, stride, 3), np.uint8)
        arr[:, :12] = rgb[..., ::-1] if fmt == "RGB888" else rgb
    else:
        i420 = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)
        u, v = i420[8:10].reshape(4, 6), i420[10:12].reshape(4, 6)
        arr = np.zeros((12, stride), np.uint8)
        arr[:8, :12] = i420[:8]
        if fmt == "YUV420":  # planar: U then V, each row stride/2 long
            pad = np.zeros((2, 4, stride // 2), np.uint8)
            pad[0, :, :6], pad[1, :, :6] = u, v
            arr[8:] = pad.reshape(4, stride)
        else:
            first, second = (u, v) if fmt == "NV12" else (v, u)
            arr[8:, :12] = np.stack([first, second], -1).reshape(4, 12)
    out = to_rgb(arr, fmt, (12, 8))
    assert out.shape == (8, 12, 3) and out.flags.c_contiguous
    assert np.abs(out.astype(int) - rgb).max() <= (0 if "888" in fmt else 12)


def test_a_format_the_bench_cannot_read_is_named():
    from device.hardware.pixels import UnknownFormat, to_rgb

    with pytest.raises(UnknownFormat, match="'XRGB8888'"):
        to_rgb(np.zeros((4, 4, 4), np.uint8), "XRGB8888", (4, 4))


def test_picamera2_failing_on_its_own_imports_is_not_called_missing():
    """Debian's libcamera with picamera2 from PyPI: picamera2 is there, pykms is not."""
    from device.hardware.camera import picamera2_import_error

    missing = ModuleNotFoundError("No module named 'picamera2'", name="picamera2")
    assert "apt install python3-picamera2" in picamera2_import_error(missing)
    broken = ModuleNotFoundError("No module named 'pykms'", name="pykms")
    said = picamera2_import_error(broken)
    assert said == "picamera2 is installed but cannot be imported: No module named 'pykms'"


@pytest.mark.parametrize(
    "fmt, shape, size",
    [
        ("RGB888", (8, 8), (8, 8)),  # 2-D where 3-D is due
        ("RGB888", (4, 8, 3), (8, 8)),  # fewer rows than the size
        ("NV12", (12, 7), (7, 8)),  # odd width
        ("YUV420", (12, 10), (7, 8)),
        ("NV12", (12, 0), (8, 8)),  # no stride
        ("NV12", (12, 8, 3), (8, 8)),
    ],
)
def test_a_malformed_frame_is_a_named_error_not_a_crash(fmt, shape, size):
    from device.hardware.pixels import UnknownFormat, to_rgb

    with pytest.raises(UnknownFormat, match=fmt):
        to_rgb(np.zeros(shape, np.uint8), fmt, size)
