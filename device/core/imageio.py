"""Reading and writing image files with clear errors (RGB arrays everywhere inside)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from device import MAX_IMAGE_PIXELS
from device.core.durable import replace_file
from device.core.errors import BadInput

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def read_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as an HxWx3 uint8 RGB array; BadInput names the file if it cannot."""
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: no such image file")
    if p.is_dir():
        raise BadInput(f"{p}: is a folder, not an image file")
    data = np.fromfile(str(p), dtype=np.uint8)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error as e:
        if "MAX_IMAGE_PIXELS" in str(e):
            raise BadInput(f"{p}: image larger than {MAX_IMAGE_PIXELS >> 20} Mpx") from None
        raise BadInput(f"{p}: not a readable image (png, jpg or tif expected)") from None
    if img is None:
        raise BadInput(f"{p}: not a readable image (png, jpg or tif expected)")
    return to_rgb8(img)


def to_rgb8(img: np.ndarray) -> np.ndarray:
    """Any decoded image (grey, BGR, BGRA, 16-bit) as HxWx3 uint8 RGB."""
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype.kind == "f":
        # Fiji writes 32-bit images as 0..1; others keep 0..255. Not finite: black.
        f = np.nan_to_num(img.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(f.max()) if f.size else 0.0
        img = np.clip(f * (255.0 if top <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def encode(rgb: np.ndarray, suffix: str = ".png", quality: int = 92) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise OSError(f"could not encode image as {suffix}")
    return buf.tobytes()


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to a temporary name, fsync, rename, fsync the folder: never a half file."""
    replace_file(Path(path), data)
