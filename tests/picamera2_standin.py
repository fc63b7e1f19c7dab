"""A stand-in for the picamera2 module with exactly the calls our backend makes, written from
picamera2's documented API (Picamera2(), sensor_resolution, create_still_configuration,
configure, start, capture_metadata, set_controls, capture_array, stop, close).

Like the real library: "RGB888" arrays are B, G, R per pixel; capture_array before start fails;
set_controls with AeEnable/AwbEnable False freezes exposure, gain and colour gains.
"""

from __future__ import annotations

import numpy as np


class Picamera2:
    sensor_resolution = (4056, 3040)  # HQ camera (IMX477)
    instances: list[Picamera2] = []

    def __init__(self) -> None:
        self.config: dict | None = None
        self.started = False
        self.closed = False
        self.controls: dict = {}
        self.fail_next = False
        Picamera2.instances.append(self)

    def create_still_configuration(self, main: dict | None = None, **kw: object) -> dict:
        return {"use_case": "still", "main": dict(main or {}), **kw}

    def configure(self, config: dict) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        self.config = config

    def start(self) -> None:
        if self.config is None:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def capture_metadata(self) -> dict:
        if not self.started:
            raise RuntimeError("Camera is not running")
        return {
            "ExposureTime": 12000,
            "AnalogueGain": 2.5,
            "ColourGains": (1.8, 1.4),
            "SensorTimestamp": 1,
        }

    def set_controls(self, controls: dict) -> None:
        self.controls.update(controls)

    def capture_array(self, name: str = "main") -> np.ndarray:
        if not self.started:
            raise RuntimeError("Camera is not running")
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("Camera frontend has timed out!")
        w, h = self.config["main"]["size"]
        bgr = np.zeros((h, w, 3), np.uint8)
        bgr[..., 0] = 200  # blue channel first, as RGB888 is laid out
        return bgr

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True
