"""Camera frame -> model input, the same on the bench and in training (pure numpy/cv2)."""

from __future__ import annotations

import cv2
import numpy as np

from device.core.errors import BadInput

PAD_MULTIPLE = 16


# A resized image may hold at most this many pixels: the network's memory grows with them (a
# model at scale 4 on a 12-megapixel photograph took 3.9 GB), and a bench frame is far smaller.
MAX_SCALED_PIXELS = 32 * 2**20


def rescale(rgb: np.ndarray, scale: float) -> np.ndarray:
    """Resize so that objects appear at the model's object size; BadInput where the result
    would hold more than MAX_SCALED_PIXELS."""
    if abs(scale - 1.0) < 1e-6:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if size[0] * size[1] > MAX_SCALED_PIXELS:
        raise BadInput(
            f"a {w}x{h} image resized by {scale:g} would be {size[0]}x{size[1]} pixels, over "
            f"{MAX_SCALED_PIXELS >> 20} Mi: use a smaller image, zoom or model scale"
        )
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interp)


def normalize(rgb: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 HxWx3 -> float32 HxWx3, (x/255 - mean) / std per channel."""
    x = rgb.astype(np.float32) * (1.0 / 255.0)
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def model_input(rgb: np.ndarray, mean: list[float], std: list[float]) -> np.ndarray:
    """uint8 HxWx3 -> the network's float32 1x3xH'xW' input: `normalize`, then `pad_to` and
    channels first, with the same values to the bit. On the Pi this runs on every frame at the
    model's (often enlarged) scale, so it pads the bytes and maps each channel through a 256-entry
    table straight into its plane: a third of the time of float arithmetic on the whole frame."""
    if rgb.size == 0:
        raise ValueError(f"an empty frame ({rgb.shape})")
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        x = pad_to(normalize(rgb, mean, std))
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])
    h, w = rgb.shape[:2]
    hp, wp = padded_input((h, w), 1.0)
    if (hp, wp) != (h, w):
        rgb = cv2.copyMakeBorder(rgb, 0, hp - h, 0, wp - w, cv2.BORDER_REPLICATE)
    out = np.empty((1, 3, hp, wp), np.float32)
    levels = np.arange(256, dtype=np.uint8)[:, None].repeat(3, 1)[None]  # 1x256x3
    table = normalize(levels, mean, std)[0]  # 256x3, the very arithmetic of `normalize`
    for c, plane in enumerate(cv2.split(rgb)):
        cv2.LUT(plane, np.ascontiguousarray(table[:, c]), dst=out[0, c])
    return out


def pad_to(
    x: np.ndarray, multiple: int = PAD_MULTIPLE, minimum: int = 0, mode: str = "edge"
) -> np.ndarray:
    """Pad (bottom and right) HxW[xC] to sides that are multiples of `multiple`.

    Images repeat their last row and column ("edge"): a band of another colour draws an edge
    that a network takes for objects (a stripe of false eggs along a bright frame's right side
    when padded with the mean colour). Density maps are padded with zeros ("constant").
    """
    h, w = x.shape[:2]
    ph = max(minimum, -(-h // multiple) * multiple) - h
    pw = max(minimum, -(-w // multiple) * multiple) - w
    if ph == 0 and pw == 0:
        return x
    pad = [(0, ph), (0, pw)] + [(0, 0)] * (x.ndim - 2)
    return np.pad(x, pad, mode=mode)


def padded_input(frame: tuple[int, int], scale: float) -> tuple[int, int]:
    """The model-input size of a frame: resized by `scale`, padded as `pad_to` pads."""
    m = PAD_MULTIPLE
    return tuple(-(-max(1, round(v * scale)) // m) * m for v in frame)  # type: ignore[return-value]
