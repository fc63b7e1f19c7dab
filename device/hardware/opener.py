"""The one place that turns the [camera] config into a camera: every backend is imported here,
and no backend imports another."""

from __future__ import annotations

from pathlib import Path

from device.config import CameraCfg
from device.hardware.camera import Camera, OpenCVCamera, Picamera2Camera, ReplayCamera
from device.hardware.light import Light
from device.hardware.video import VIDEO_SUFFIXES, VideoReplayCamera


def open_camera(
    cfg: CameraCfg, option: str = "[camera] folder", light: Light | None = None
) -> Camera:
    """The configured camera; picamera2 locks its exposure under `light` at capture brightness."""
    if cfg.backend == "replay":
        if Path(cfg.folder).suffix.lower() in VIDEO_SUFFIXES:
            return VideoReplayCamera(cfg.folder, option)
        return ReplayCamera(cfg.folder, cfg.delay_ms, option)
    if cfg.backend == "opencv":
        return OpenCVCamera(cfg.device, cfg.width, cfg.height)
    return Picamera2Camera(cfg, light=light)
