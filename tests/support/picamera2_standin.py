"""A stand-in for the picamera2 module with the calls our backend makes, written from picamera2's
documented API and its source (Picamera2(camera_num), global_camera_info(), camera_properties,
sensor_resolution, sensor_modes, camera_controls, create_still_configuration(main, lores, raw,
transform, colour_space, buffer_count, controls, display, encode, queue, sensor, use_case),
configure, start, set_controls, capture_metadata, capture_request(wait, signal_function, flush)
-> CompletedRequest (make_array, get_metadata, release), capture_array, stop, close).

It behaves like the real library where our backend depends on it:
- "RGB888" arrays are B, G, R per pixel; sizes must be even; unknown stream or sensor keys and
  controls the camera does not advertise are errors.
- The still configuration queues finished frames (queue=True): a request taken without flush
  was exposed at the previous call, under whatever light was on then. flush=True waits for a
  frame whose exposure started after the call (SensorTimestamp - ExposureTime >= now).
- wait=<seconds> raises TimeoutError when no frame comes; a blocking wait on a dead camera
  fails the test instead of hanging it. As in picamera2 (job.py: a timed-out wait does not
  unschedule its job), the abandoned job stays queued and takes the next frame when frames
  come back, a request nobody releases; with buffer_count=2 one such request starves the camera
  (every later capture times out) until cancel_all_and_flush() drops the jobs, or stop() and
  start() return every buffer.
- Auto exposure follows the light on the field (`scene`, the ring's brightness as the test
  wires it); locked exposure does not, so a frame taken at another brightness is off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

SENSORS: dict[str, dict[str, Any]] = {
    "imx477": {  # HQ camera
        "resolution": (4056, 3040),
        "modes": [(1332, 990), (2028, 1080), (2028, 1520), (4056, 3040)],
        "focus": False,
    },
    "imx708": {  # Camera Module 3
        "resolution": (4608, 2592),
        "modes": [(1536, 864), (2304, 1296), (4608, 2592)],
        "focus": True,
    },
    "Virtual0": {  # libcamera's virtual camera: no raw modes, no controls, NV12 at one size
        "resolution": (1920, 1080),
        "modes": [],
        "focus": False,
        "controls": False,
        "adjust": ("NV12", (640, 480)),
    },
}
TARGET_LEVEL = 118  # what auto exposure aims for (mean grey level)
K = TARGET_LEVEL / 10000  # grey level per (brightness x microsecond x gain)
AMBIENT = 0.02  # room light on the field with the ring off
STILL_KEYS = ("format", "size", "stride", "preserve_ar")


class CompletedRequest:
    def __init__(self, cam: Picamera2, frame: np.ndarray, metadata: dict[str, Any]) -> None:
        self.cam = cam
        self.frame = frame
        self.metadata = metadata
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        if self.released:
            raise RuntimeError("request already released")
        if name != "main":
            raise KeyError(name)
        return self.frame.copy()

    def get_metadata(self) -> dict[str, Any]:
        return dict(self.metadata)

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.cam.outstanding -= 1


class Picamera2:
    # What is plugged in and what light falls on the field: tests set these.
    sensor = "imx477"
    scene: Callable[[], float] = staticmethod(lambda: 1.0)
    instances: list[Picamera2] = []

    @staticmethod
    def global_camera_info() -> list[dict[str, Any]]:
        if not Picamera2.sensor:
            return []
        return [
            {
                "Model": Picamera2.sensor,
                "Location": 2,
                "Rotation": 0,
                "Id": f"/base/soc/i2c0mux/i2c@1/{Picamera2.sensor}@1a",
                "Num": 0,
            }
        ]

    def __init__(self, camera_num: int = 0) -> None:
        cams = Picamera2.global_camera_info()
        if camera_num >= len(cams):
            raise IndexError("list index out of range")  # what picamera2 raises with no camera
        spec = SENSORS[Picamera2.sensor]
        self.camera_properties = {"Model": Picamera2.sensor, "PixelArraySize": spec["resolution"]}
        self.sensor_resolution = spec["resolution"]
        self.sensor_modes = [
            {"size": s, "bit_depth": 10, "format": "SRGGB10_CSI2P", "fps": 30.0}
            for s in spec["modes"]
        ]
        self.camera_controls: dict[str, tuple[Any, Any, Any]] = {
            "AeEnable": (False, True, True),
            "AwbEnable": (False, True, True),
            "ExposureTime": (100, 200000, 10000),
            "AnalogueGain": (1.0, 16.0, 1.0),
            "ColourGains": (0.0, 32.0, None),
            "FrameDurationLimits": (100, 1000000000, None),
            "NoiseReductionMode": (0, 4, 0),
        }
        if spec.get("controls") is False:
            self.camera_controls = {}
        if spec["focus"]:
            self.camera_controls |= {"AfMode": (0, 2, 0), "LensPosition": (0.0, 15.0, 1.0)}
        self.applied: dict[str, Any] = {"AeEnable": True, "AwbEnable": True}
        self.config: dict[str, Any] | None = None
        self.started = False
        self.closed = False
        self.queued: list[CompletedRequest] = []
        self.outstanding = 0  # requests handed out and not yet released
        self.hang = False  # the frontend stops delivering frames (a loose ribbon cable)
        self.orphans = 0  # jobs whose wait timed out: still scheduled, as in picamera2
        self.leaked: list[CompletedRequest] = []  # requests those jobs took, never released
        self.exposures: list[float] = []  # the light on the field at every exposure
        Picamera2.instances.append(self)

    # -- configuration ----------------------------------------------------------------------
    def create_still_configuration(
        self,
        main: dict[str, Any] | None = None,
        lores: dict[str, Any] | None = None,
        raw: dict[str, Any] | None = None,
        transform: object = None,
        colour_space: object = None,
        buffer_count: int = 1,
        controls: dict[str, Any] | None = None,
        display: str | None = None,
        encode: str | None = None,
        queue: bool = True,
        sensor: dict[str, Any] | None = None,
        use_case: str = "still",
    ) -> dict[str, Any]:
        stream = {"format": "BGR888", "size": self.sensor_resolution, "preserve_ar": True}
        for key, value in (main or {}).items():
            if key not in STILL_KEYS:
                raise ValueError(
                    f"Bad key {key!r}: valid stream configuration keys are {STILL_KEYS}"
                )
            stream[key] = value
        bad = set(sensor or {}) - {"bit_depth", "output_size"}
        if bad:
            raise RuntimeError(f"Unexpected keys {bad} in sensor configuration")
        return {
            "use_case": use_case,
            "buffer_count": buffer_count,
            "queue": queue,
            "main": stream,
            "lores": lores,
            "raw": raw,
            "controls": dict(controls or {}),
            "sensor": dict(sensor or {}),
            "display": display,
            "encode": encode,
        }

    def configure(self, config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if not SENSORS[Picamera2.sensor]["modes"] and config["sensor"]:
            # picamera2 asks libcamera for a raw stream to honour a sensor configuration
            raise RuntimeError("Camera __init__ sequence did not complete.")
        adjust = SENSORS[Picamera2.sensor].get("adjust")
        if adjust:  # libcamera validates to what the camera has; picamera2 goes along
            config["main"] = dict(config["main"], format=adjust[0], size=adjust[1])
        size = config["main"]["size"]
        if type(size) is not tuple or len(size) != 2:
            raise RuntimeError("size in main stream should be (width, height)")
        if size[0] % 2 or size[1] % 2:
            raise RuntimeError("width and height should be even")
        self._check_controls(config["controls"])
        self.config = config

    def camera_configuration(self) -> dict[str, Any]:
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        return self.config

    def start(self) -> None:
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        self.applied.update(self.config["controls"])
        self.started = True
        self.queued = [self._expose()]  # a finished frame waits in the queue

    def set_controls(self, controls: dict[str, Any]) -> None:
        self._check_controls(controls)
        self.applied.update(controls)

    def _check_controls(self, controls: dict[str, Any]) -> None:
        for name in controls:
            if name not in self.camera_controls:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")

    # -- the sensor -------------------------------------------------------------------------
    def _expose(self) -> CompletedRequest:
        light = AMBIENT + float(Picamera2.scene())
        self.exposures.append(light)
        gain = float(self.applied.get("AnalogueGain", 1.0))
        if self.applied.get("AeEnable", True):
            exposure = int(min(200000, max(100, TARGET_LEVEL / (K * light * 1.0))))
            gain = 1.0
        else:
            exposure = int(self.applied["ExposureTime"])
        level = int(min(255, K * light * exposure * gain))
        w, h = self.config["main"]["size"]
        bgr = np.empty((h, w, 3), np.uint8)
        bgr[..., 0], bgr[..., 1], bgr[..., 2] = level, level // 2, level // 4  # B, G, R
        start = time.monotonic_ns()
        meta = {
            "ExposureTime": exposure,
            "AnalogueGain": gain,
            "ColourGains": (1.8, 1.4)
            if self.applied.get("AwbEnable", True)
            else tuple(self.applied["ColourGains"]),
            "SensorTimestamp": start + 1000 * exposure,
        }
        if "LensPosition" in self.applied:
            meta["LensPosition"] = self.applied["LensPosition"]
        self.outstanding += 1
        if self.config["main"]["format"] == "NV12":
            return CompletedRequest(self, _nv12(bgr), meta)
        return CompletedRequest(self, bgr, meta)

    def _next(self, wait: object, flush: object) -> CompletedRequest:
        if not self.started:
            raise RuntimeError("Camera is not running")
        if wait is None or wait is True:
            if self.hang or self._starved():
                raise AssertionError("capture would block forever: pass wait=<seconds>")
        while self.orphans and not self.hang:  # frames are back: abandoned jobs take theirs
            self.orphans -= 1
            self.leaked.append(self._expose())
        if self.hang or self._starved():
            self.orphans += 1
            raise TimeoutError("no frame")
        if flush:
            since = time.monotonic_ns() if flush is True else int(flush)  # type: ignore[arg-type]
            while self.queued:
                md = self.queued[0].metadata
                if md["SensorTimestamp"] - 1000 * md["ExposureTime"] >= since:
                    break
                self.queued.pop(0).release()
            if not self.queued:
                self.queued.append(self._expose())
        req = self.queued.pop(0)
        self.queued.append(self._expose())  # the camera runs on: the next frame queues now
        return req

    def _starved(self) -> bool:
        buffers = int((self.config or {}).get("buffer_count", 2))
        return len(self.leaked) >= buffers - 1

    def cancel_all_and_flush(self) -> None:
        """picamera2: cancel every pending job (their futures never complete) and flush."""
        self.orphans = 0

    # -- capture ----------------------------------------------------------------------------
    def capture_request(
        self, wait: object = None, signal_function: object = None, flush: object = None
    ) -> CompletedRequest:
        return self._next(wait, flush)

    def capture_metadata(self, wait: object = None, signal_function: object = None) -> dict:
        req = self._next(wait, None)
        try:
            return req.get_metadata()
        finally:
            req.release()

    def capture_array(
        self, name: str = "main", wait: object = None, signal_function: object = None
    ) -> np.ndarray:
        req = self._next(wait, None)
        try:
            return req.make_array(name)
        finally:
            req.release()

    def stop(self) -> None:
        self.started = False
        self.orphans = 0
        while self.queued:
            self.queued.pop().release()
        while self.leaked:  # libcamera takes every buffer back when the camera stops
            self.leaked.pop().release()

    def close(self) -> None:
        self.stop()
        self.closed = True


def _nv12(bgr: np.ndarray) -> np.ndarray:
    """NV12 as libcamera lays it out: the Y plane, then U and V interleaved at half size."""
    import cv2

    h, w = bgr.shape[:2]
    i420 = cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420)
    u = i420[h : h + h // 4].reshape(h // 2, w // 2)
    v = i420[h + h // 4 :].reshape(h // 2, w // 2)
    uv = np.stack([u, v], axis=-1).reshape(h // 2, w)
    return np.vstack([i420[:h], uv])
