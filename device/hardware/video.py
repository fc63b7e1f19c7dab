"""A video file as a camera (`run --sim --sim-source clip.mp4`): the frame a live camera would
see now, the video looping, so a lab can try the bench on a recording of its own scope."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2

from device.core.errors import BadInput
from device.core.imageio import to_rgb8
from device.hardware.camera import CameraError, Frame

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")


class VideoReplayCamera:
    def __init__(
        self,
        path: str | Path,
        option: str = "[camera] folder",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.cap = cv2.VideoCapture(str(self.path))
        n = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT)) if self.cap.isOpened() else 0
        ok = n > 0 and self.cap.read()[0]
        if not ok:
            self.cap.release()
            raise BadInput(f"{option} {self.path}: not a readable video")
        self.frames = n
        self.fps = self.cap.get(cv2.CAP_PROP_FPS) or 25.0
        self.clock = clock
        self.start = clock()
        self._lock = threading.Lock()

    def capture(self) -> Frame:
        index = int((self.clock() - self.start) * self.fps) % self.frames
        with self._lock:
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, bgr = self.cap.read()
        if not ok or bgr is None:
            raise CameraError(f"video {self.path.name}: no frame at {index}")
        return Frame(to_rgb8(bgr), {"source": f"{self.path.name}#{index}"})

    def describe(self) -> str:
        return f"replay {self.path.name} ({self.frames} frames, looping)"

    def close(self) -> None:
        self.cap.release()
