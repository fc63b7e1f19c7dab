"""Cameras behind one small interface: picamera2, OpenCV (USB microscopes) and replay (folders).

picamera2 is imported inside its backend only: it exists on Raspberry Pi OS, nowhere else.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from device.config import CameraCfg
from device.errors import BadInput
from device.imageio import IMAGE_SUFFIXES, read_rgb, to_rgb8


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


class Picamera2Camera:
    """A Raspberry Pi camera (HQ camera on the eyepiece, or Camera Module 3).

    Full-resolution stills; auto exposure and white balance run for settle_ms, then exposure,
    gain and colour gains are locked (or set from the config) so that vial after vial is
    captured alike and counts stay comparable.
    """

    def __init__(self, cfg: CameraCfg, module: ModuleType | None = None) -> None:
        if module is None:
            try:
                import picamera2 as module  # type: ignore[no-redef]
            except ImportError:
                raise CameraError(
                    "picamera2 is not installed: sudo apt install python3-picamera2 and use a "
                    "venv made with --system-site-packages"
                ) from None
        self.cam = module.Picamera2()
        size = (cfg.width, cfg.height) if cfg.width and cfg.height else self.cam.sensor_resolution
        config = self.cam.create_still_configuration(
            main={"size": tuple(size), "format": "RGB888"}, buffer_count=2
        )
        self.cam.configure(config)
        self.cam.start()
        time.sleep(cfg.settle_ms / 1000)
        meta = self.cam.capture_metadata()
        controls: dict[str, Any] = {"AeEnable": False, "AwbEnable": False}
        controls["ExposureTime"] = cfg.exposure_us or int(meta.get("ExposureTime", 10000))
        controls["AnalogueGain"] = cfg.gain or float(meta.get("AnalogueGain", 1.0))
        gains = cfg.awb_gains or list(meta.get("ColourGains", (1.0, 1.0)))
        controls["ColourGains"] = (float(gains[0]), float(gains[1]))
        self.cam.set_controls(controls)
        self.locked = controls
        self.size = tuple(size)

    def capture(self) -> Frame:
        try:
            arr = self.cam.capture_array("main")
        except Exception as e:  # libcamera reports timeouts and disconnects as RuntimeError
            raise CameraError(f"picamera2 capture failed: {e}") from None
        if arr is None or arr.size == 0:
            raise CameraError("picamera2 returned an empty frame")
        # picamera2's "RGB888" is stored B, G, R per pixel.
        return Frame(np.ascontiguousarray(arr[..., 2::-1]), dict(self.locked))

    def describe(self) -> str:
        return f"picamera2 {self.size[0]}x{self.size[1]} (exposure and white balance locked)"

    def close(self) -> None:
        try:
            self.cam.stop()
        finally:
            self.cam.close()


def open_camera(cfg: CameraCfg, option: str = "[camera] folder") -> Camera:
    if cfg.backend == "replay":
        from device.hardware.video import VIDEO_SUFFIXES, VideoReplayCamera

        if Path(cfg.folder).suffix.lower() in VIDEO_SUFFIXES:
            return VideoReplayCamera(cfg.folder, option)
        return ReplayCamera(cfg.folder, cfg.delay_ms, option)
    if cfg.backend == "opencv":
        return OpenCVCamera(cfg.device, cfg.width, cfg.height)
    return Picamera2Camera(cfg)
