"""Frames as picamera2 hands them over, in whatever format the camera settled on, to RGB.

libcamera may adjust the format the bench asks for (RGB888) to one the camera has: libcamera's
`virtual` camera, and some USB-attached ones, give only NV12. picamera2 names formats by
DRM's byte order, so its "RGB888" is B, G, R in memory and "BGR888" is R, G, B.
"""

from __future__ import annotations

import cv2
import numpy as np

YUV = {
    "NV12": cv2.COLOR_YUV2RGB_NV12,
    "NV21": cv2.COLOR_YUV2RGB_NV21,
    "YUV420": cv2.COLOR_YUV2RGB_I420,
}
FORMATS = ("RGB888", "BGR888", *YUV)


class UnknownFormat(ValueError):
    pass


def to_rgb(arr: np.ndarray, fmt: str, size: tuple[int, int]) -> np.ndarray:
    """An (h, w, 3) uint8 RGB frame from picamera2's array of one stream: (h, stride, 3) for
    RGB888/BGR888, (h * 3 / 2, stride) for the YUV 4:2:0 formats; `size` is (w, h)."""
    w, h = size
    try:
        if fmt in ("RGB888", "BGR888"):
            if arr.ndim != 3 or arr.shape[0] < h or arr.shape[1] < w or arr.shape[2] < 3:
                raise UnknownFormat(f"a {fmt} frame of {w}x{h} cannot be {arr.shape}")
            order = slice(2, None, -1) if fmt == "RGB888" else slice(0, 3)
            return np.ascontiguousarray(arr[:h, :w, order])
        if fmt in YUV:
            return _yuv(arr, fmt, w, h)
    except (ValueError, IndexError, cv2.error) as e:
        raise UnknownFormat(f"a {fmt} frame of {w}x{h} could not be read: {e}") from None
    raise UnknownFormat(f"camera format {fmt!r} is not one the bench reads ({', '.join(FORMATS)})")


def _yuv(arr: np.ndarray, fmt: str, w: int, h: int) -> np.ndarray:
    stride = arr.shape[1] if arr.ndim == 2 else 0
    if arr.ndim != 2 or w % 2 or h % 2 or arr.shape[0] < h * 3 // 2 or stride < w:
        raise UnknownFormat(f"a {fmt} frame of {w}x{h} cannot be {arr.shape}")
    if fmt == "YUV420" and stride != w:  # U and V rows are stride/2 long, two per row
        chroma = arr[h : h * 3 // 2].reshape(-1)
        half = (h // 2) * (stride // 2)
        u = chroma[:half].reshape(h // 2, stride // 2)[:, : w // 2]
        v = chroma[half : 2 * half].reshape(h // 2, stride // 2)[:, : w // 2]
        packed = np.concatenate([arr[:h, :w].reshape(-1), u.reshape(-1), v.reshape(-1)])
        return cv2.cvtColor(packed.reshape(h * 3 // 2, w), YUV[fmt])
    return cv2.cvtColor(np.ascontiguousarray(arr[: h * 3 // 2, :w]), YUV[fmt])
