"""Cameras behind one small interface: picamera2, OpenCV (USB microscopes) and replay (folders).

picamera2 is imported inside its backend only: it exists on Raspberry Pi OS, nowhere else.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from device.config import CameraCfg
from device.core.errors import BadInput
from device.core.imageio import IMAGE_SUFFIXES, read_rgb, to_rgb8
from device.hardware.light import Light
from device.hardware.pixels import FORMATS, UnknownFormat, to_rgb

log = logging.getLogger(__name__)


class CameraError(Exception):
    """The camera did not deliver a frame (unplugged, timed out, returned nothing)."""


@dataclass
class Frame:
    rgb: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


class Camera(Protocol):
    def capture(self) -> Frame: ...
    def describe(self) -> str: ...
    def close(self) -> None: ...


class ReplayCamera:
    """A folder of images, in name order, looping: demos, tests, re-counting old vials.

    Behaves like a sensor where it matters: a capture takes delay_ms, and `unplug()` makes
    captures fail until `plug()`, as a loose ribbon cable does.
    """

    def __init__(
        self, folder: str | Path, delay_ms: int = 0, option: str = "[camera] folder"
    ) -> None:
        self.folder = Path(folder)
        if self.folder.is_file() and self.folder.suffix.lower() in IMAGE_SUFFIXES:
            self.files = [self.folder]  # one photograph, counted at every press
        elif not self.folder.is_dir():
            raise BadInput(f"{option} {self.folder}: not a folder")
        else:
            if (self.folder / "images").is_dir():  # a training folder or a day folder
                self.folder = self.folder / "images"
            self.files = sorted(
                p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
            )
        if not self.files:
            raise BadInput(f"{option} {self.folder}: no png, jpg or tif images in it")
        self.delay_s = delay_ms / 1000
        self.index = 0
        # A sensor hands over a frame from memory: decode each file once, not at every capture.
        self._cache: dict[Path, np.ndarray] = {}
        self._plugged = threading.Event()
        self._plugged.set()

    def unplug(self) -> None:
        self._plugged.clear()

    def plug(self) -> None:
        self._plugged.set()

    def capture(self) -> Frame:
        if self.delay_s:
            time.sleep(self.delay_s)
        if not self._plugged.is_set():
            raise CameraError("camera not responding (replay camera unplugged)")
        path = self.files[self.index % len(self.files)]
        self.index += 1
        rgb = self._cache.get(path)
        if rgb is None:
            try:
                rgb = read_rgb(path)
            except BadInput as e:
                raise CameraError(str(e)) from None
            self._cache[path] = rgb
        return Frame(rgb.copy(), {"source": path.name})

    def describe(self) -> str:
        if self.folder.is_file():
            return f"replay {self.folder.name}"
        return f"replay {self.folder.name}/ ({len(self.files)} images)"

    def close(self) -> None:
        pass


class OpenCVCamera:
    """A USB (UVC) microscope camera through OpenCV: by index or /dev/video path."""

    def __init__(self, device: str, width: int = 0, height: int = 0) -> None:
        import cv2

        self.device = device
        src: int | str = int(device) if device.isdigit() else device
        self.cap = cv2.VideoCapture(src)
        if width and height:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if not self.cap.isOpened():
            raise CameraError(f"cannot open camera {device}")

    def capture(self) -> Frame:
        # A UVC camera queues a few stale frames; the newest is the one under the light now.
        for _ in range(2):
            self.cap.grab()
        ok, bgr = self.cap.read()
        if not ok or bgr is None:
            raise CameraError(f"camera {self.device} returned no frame")
        return Frame(to_rgb8(bgr), {"device": self.device})

    def describe(self) -> str:
        return f"opencv {self.device}"

    def close(self) -> None:
        self.cap.release()


MAIN_WIDTH = 1280  # the frame the docs, the demo model and the Pi's time budget assume


def default_sizes(
    full: tuple[int, int], modes: list[dict[str, Any]]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """The sensor mode and the frame size a camera captures at when the config names none.

    The sensor runs in its 2x2 binned mode (HQ camera 2028x1520, Camera Module 3 2304x1296,
    v2 1640x1232): the whole field of view, less noise, a quarter of the readout. The ISP scales
    that to 1280 wide at the sensor's aspect ratio (HQ: 1280x960). Full resolution (4056x3040 on
    the HQ camera) costs ~5.7x the time and ~340 MB at the peak for no better counts.
    """
    sizes = [tuple(m["size"]) for m in modes if "size" in m] or [tuple(full)]
    half = (full[0] // 2, full[1] // 2)
    binned = [s for s in sizes if abs(s[0] - half[0]) <= 0.05 * half[0] and s[1] >= half[1] * 0.95]
    wide = sorted((s for s in sizes if s[0] >= MAIN_WIDTH), key=lambda s: s[0] * s[1])
    sensor = binned[0] if binned else (wide[0] if wide else max(sizes, key=lambda s: s[0] * s[1]))
    w = min(MAIN_WIDTH, sensor[0])
    h = round(w * sensor[1] / sensor[0] / 2) * 2
    return (int(sensor[0]), int(sensor[1])), (int(w), int(h))


def picamera2_import_error(e: ImportError) -> str:
    """Not installed, or installed and failing on something it imports (Debian's libcamera
    without Pi OS's python3-kms++: `No module named 'pykms'`)."""
    if e.name == "picamera2":
        return (
            "picamera2 is not installed: sudo apt install python3-picamera2 and use a venv "
            "made with --system-site-packages"
        )
    return f"picamera2 is installed but cannot be imported: {e}"


LOCK_CONTROLS = ("AeEnable", "AwbEnable", "ExposureTime", "AnalogueGain", "ColourGains")


def missing_lock_controls(advertised: Any) -> list[str]:
    """The controls the bench locks that a camera does not advertise (picamera2 refuses
    to set those)."""
    return [c for c in LOCK_CONTROLS if c not in advertised]


class Picamera2Camera:
    """A Raspberry Pi camera (HQ camera on the eyepiece, or Camera Module 3).

    Exposure, gain and white balance are settled with the ring at capture brightness (the light
    it will capture under), then locked, then the ring dims: vial after vial is captured alike
    and counts stay comparable. Every capture waits for a frame exposed after the call (the
    still configuration keeps a finished frame queued, exposed perhaps before the ring went to
    full), with a timeout so that a dead camera is an error, not a hang.
    """

    def __init__(
        self, cfg: CameraCfg, module: ModuleType | None = None, light: Light | None = None
    ) -> None:
        if module is None:
            try:
                import picamera2 as module  # type: ignore[no-redef]
            except ImportError as e:
                raise CameraError(picamera2_import_error(e)) from None
        self.timeout_s = cfg.timeout_ms / 1000
        try:
            self.cam = module.Picamera2()
        except (RuntimeError, IndexError) as e:  # no camera: IndexError from the camera list
            raise CameraError(f"no Raspberry Pi camera found ({e})") from None
        self.model = str(self.cam.camera_properties.get("Model", "camera"))
        sensor: dict[str, Any] = {}
        if cfg.width and cfg.height:
            size = (cfg.width, cfg.height)
        else:
            modes = self.cam.sensor_modes
            out, size = default_sizes(tuple(self.cam.sensor_resolution), modes)
            if modes:  # a camera without raw modes (libcamera's virtual one) takes no sensor
                sensor = {"output_size": out}
        controls: dict[str, Any] = {}
        if cfg.lens_position >= 0:
            if "LensPosition" not in self.cam.camera_controls:
                self.cam.close()
                raise CameraError(
                    f"{self.model} has no focus control: remove [camera] lens_position"
                )
            controls = {"AfMode": 0, "LensPosition": cfg.lens_position}  # 0: AfModeEnum.Manual
        config = self.cam.create_still_configuration(
            main={"size": tuple(size), "format": "RGB888"},
            buffer_count=2,
            controls=controls,
            sensor=sensor,
        )
        self.cam.configure(config)
        self.format, self.size = self._configured(size)
        self.cam.start()
        self.timeouts = 0  # in a row: after RESTART_AFTER the camera is stopped and started
        self.locked: dict[str, Any] = {}
        self.cannot_lock: list[str] = []
        self.locked = self._settle_and_lock(cfg, light)

    def _configured(self, asked: tuple[int, int]) -> tuple[str, tuple[int, int]]:
        """The format and size libcamera settled on: it adjusts what it cannot give (the
        virtual camera gives NV12 at the sizes its config lists) and picamera2 goes along."""
        conf = self.cam.camera_configuration()["main"]
        fmt, size = str(conf["format"]), (int(conf["size"][0]), int(conf["size"][1]))
        if fmt not in FORMATS:
            self.cam.close()
            raise CameraError(f"{self.model} gives {fmt} frames, which the bench cannot read")
        if (fmt, size) != ("RGB888", tuple(asked)):
            log.warning("camera %s adjusted RGB888 %s to %s %s", self.model, asked, fmt, size)
        return fmt, size

    def _settle_and_lock(self, cfg: CameraCfg, light: Light | None) -> dict[str, Any]:
        """Auto exposure and white balance settle under the capture light, then are locked.
        A camera that does not advertise a control (libcamera's `virtual` camera advertises
        none) keeps the rest locked and says which in describe() and the log."""
        self.cannot_lock = missing_lock_controls(self.cam.camera_controls)
        if self.cannot_lock:
            log.warning("camera %s cannot lock %s", self.model, ", ".join(self.cannot_lock))
        if light is not None:
            light.capture()
        try:
            time.sleep(cfg.settle_ms / 1000)
            meta = self._request(lambda r: r.get_metadata())
            locked: dict[str, Any] = {"AeEnable": False, "AwbEnable": False}
            locked["ExposureTime"] = cfg.exposure_us or int(meta.get("ExposureTime", 10000))
            locked["AnalogueGain"] = cfg.gain or float(meta.get("AnalogueGain", 1.0))
            gains = cfg.awb_gains or list(meta.get("ColourGains", (1.0, 1.0)))
            locked["ColourGains"] = (float(gains[0]), float(gains[1]))
            locked = {k: v for k, v in locked.items() if k not in self.cannot_lock}
            if locked:
                self.cam.set_controls(locked)
        finally:
            if light is not None:
                light.ready()
        return locked

    def _request(self, use: Any) -> Any:
        """One request exposed after this call (flush), used, then given back to libcamera."""
        try:
            req = self.cam.capture_request(wait=self.timeout_s, flush=True)
        except TimeoutError:
            self._after_timeout()
            raise CameraError(f"no frame within {self.timeout_s:g} s (camera timed out)") from None
        except Exception as e:  # libcamera reports frontend timeouts and unplugs as RuntimeError
            raise CameraError(f"picamera2 capture failed: {e}") from None
        self.timeouts = 0
        try:
            return use(req)
        finally:
            req.release()

    RESTART_AFTER = 2

    def _after_timeout(self) -> None:
        """A timed-out wait leaves its job scheduled in picamera2 (job.py: cancelling does not
        unschedule it): when frames come back it takes one and nobody releases it, and with two
        buffers the camera starves. Drop the jobs now; after repeated timeouts stop and start
        the camera, which gives every buffer back, and lock the exposure again."""
        self.timeouts += 1
        cancel = getattr(self.cam, "cancel_all_and_flush", None)
        try:
            if cancel is not None:
                cancel()
            if self.timeouts >= self.RESTART_AFTER:
                log.warning("camera: %d timeouts in a row: restarting it", self.timeouts)
                self.cam.stop()
                self.cam.start()
                self.cam.set_controls(self.locked)
        except Exception as e:  # frames must not claim a lock the camera no longer has
            log.exception("camera: recovery after a timeout failed")
            raise CameraError(f"camera restart failed ({e})") from None

    def capture(self) -> Frame:
        arr, meta = self._request(lambda r: (r.make_array("main"), r.get_metadata()))
        if arr is None or arr.size == 0:
            raise CameraError("picamera2 returned an empty frame")
        info = dict(self.locked)
        info["SensorTimestamp"] = meta.get("SensorTimestamp")
        try:
            return Frame(to_rgb(arr, self.format, self.size), info)
        except UnknownFormat as e:
            raise CameraError(str(e)) from None

    def describe(self) -> str:
        locked = (
            f"cannot lock {', '.join(self.cannot_lock)}"
            if self.cannot_lock
            else "exposure and white balance locked"
        )
        return f"picamera2 {self.model} {self.size[0]}x{self.size[1]} ({locked})"

    def close(self) -> None:
        try:
            self.cam.stop()
        finally:
            self.cam.close()
